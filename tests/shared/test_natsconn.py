"""Reconnecting to a broker that went away: bounded backoff, one log line per state change, listeners told."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from shared.natsconn import ReconnectPolicy, backoff_s, connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer
from shared.settings import NatsSettings
from tests.support.gateway_app import poll_until


def test_backoff_doubles_and_is_capped() -> None:
    delays = [backoff_s(n, 0.1, 2.0, jitter=0) for n in range(8)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    assert all(0.8 * 2.0 <= backoff_s(50, 0.1, 2.0) <= 1.2 * 2.0 for _ in range(20))


def test_policy_picks_the_least_tried_server() -> None:
    class FakeServer:
        def __init__(self, name: str, reconnects: int) -> None:
            self.name, self.reconnects = name, reconnects

    servers = [FakeServer("a", 3), FakeServer("b", 1), FakeServer("c", 2)]
    chosen, delay = ReconnectPolicy(0.1, 2.0)(servers, {})  # type: ignore[arg-type]
    assert chosen is servers[1] and 0.16 <= delay <= 0.24


async def test_broker_restart_logs_once_per_change_and_tells_listeners(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = EmbeddedNatsServer(tmp_path / "nats")
    await server.start()
    changes: list[bool] = []
    settings = NatsSettings(nats_url=server.url, nats_reconnect_min_wait_s=0.05, nats_reconnect_max_wait_s=0.2)
    nc = await connect(settings, "pytest", on_link=changes.append)
    try:
        with caplog.at_level(logging.DEBUG, logger="shared.natsconn"):
            assert server.proc is not None
            server.proc.kill()  # like kill -9
            await server.proc.wait()
            await poll_until(lambda: _true(changes == [False]), timeout_s=10)
            await asyncio.sleep(1.5)  # ~7+ failed attempts at 0.05..0.2 s
            await server.restart()
            await poll_until(lambda: _true(changes == [False, True]), timeout_s=15)
        infos = [r for r in caplog.records if r.levelno >= logging.INFO and r.name == "shared.natsconn"]
        messages = [r.getMessage() for r in infos]
        assert messages == ["nats disconnected, reconnecting with backoff", "nats reconnected"]  # one per change
        attempts = [r for r in caplog.records if r.getMessage() == "nats reconnect attempt failed"]
        assert len(attempts) >= 3  # retried, but only at DEBUG
        await nc.flush(timeout=5)  # the connection works again
    finally:
        await drain_quietly(nc, 5)
        await server.stop()


async def _true(value: bool) -> bool:
    return value
