"""nats-server's MQTT listener: a real MQTT client (paho-mqtt) subscribed to sw/events/# gets every
event published to EVENTS, on topic sw/events/<sid>/<kind>. No second broker."""

from __future__ import annotations

import asyncio
import json
import queue
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from shared import subjects
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer, render_config
from shared.settings import NatsSettings
from tests.support.net import free_port


def test_the_mqtt_listener_is_off_unless_asked(tmp_path: Path) -> None:
    assert "mqtt {" not in render_config(tmp_path, "127.0.0.1", -1, 8)
    on = render_config(tmp_path, "127.0.0.1", -1, 8, mqtt_port=1883)
    assert 'listen: "127.0.0.1:1883"' in on and "server_name" in on


@pytest.fixture
async def mqtt_server(tmp_path: Path):
    async with EmbeddedNatsServer(tmp_path / "nats", mqtt_port=free_port()) as server:
        yield server


def subscribed_client(port: int, inbox: queue.Queue[tuple[str, bytes]]) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pytest-subscriber")
    ready: queue.Queue[bool] = queue.Queue()
    client.on_connect = lambda c, _u, _f, rc, _p: c.subscribe("sw/events/#", qos=1)
    client.on_subscribe = lambda _c, _u, _m, codes, _p: ready.put(True)
    client.on_message = lambda _c, _u, msg: inbox.put((msg.topic, msg.payload))
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    assert ready.get(timeout=30)
    return client


async def test_an_mqtt_client_receives_every_event(mqtt_server: EmbeddedNatsServer) -> None:
    assert mqtt_server.mqtt_port is not None
    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    client = await asyncio.to_thread(subscribed_client, mqtt_server.mqtt_port, inbox)
    settings = NatsSettings(nats_url=mqtt_server.url)
    nc = await connect(settings, "pytest")
    try:
        js = nc.jetstream()
        await provision(js, settings)
        sent = []
        for sid, kind in [("cam1", "line_cross"), ("cam1", "zone_enter"), ("cam-2", "source_lost")]:
            body = json.dumps({"type": "event", "event": {"id": f"ev_{sid}_{kind}", "kind": kind, "sid": sid}})
            await js.publish(subjects.events(sid, kind), body.encode(), headers={"Nats-Msg-Id": f"ev_{sid}_{kind}"})
            sent.append((f"sw/events/{sid}/{kind}", body.encode()))
        got = [await asyncio.to_thread(inbox.get, True, 30) for _ in sent]
        assert sorted(got) == sorted(sent)
    finally:
        client.loop_stop()
        client.disconnect()
        await drain_quietly(nc, 5)


def test_up_takes_the_mqtt_port_option() -> None:
    from shared.cli import build_settings, parser

    args = parser().parse_args(["up", "--mqtt-port", "1884"])
    assert build_settings("up", mqtt_port=args.mqtt_port).mqtt_port == 1884
    assert build_settings("up", mqtt_port=None).mqtt_port is None
