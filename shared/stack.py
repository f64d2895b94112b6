"""`sightwire up`: the embedded broker plus one process per component.

With SIGHTWIRE_NATS_URL set, no broker is started and the components use that
one. JetStream objects are provisioned here once before the components start
(each component also provisions idempotently, so order never matters).

The embedded broker is one of the supervised children (stage 2: stopped
last): if it exits it is restarted with backoff on the same store and port,
and the components, which reconnect with a bounded backoff, carry on with the
data JetStream kept on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from shared import console
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer
from shared.settings import UpSettings, user_cache_dir
from shared.supervisor import Child, Supervisor, component_argv

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Broker:
    url: str
    embedded: EmbeddedNatsServer | None = None

    def child(self) -> Child | None:
        """The embedded server as a supervised child (restarted on exit), or None for an external one."""
        server = self.embedded
        if server is None:
            return None
        return Child("nats-server", [], stage=2, env={}, proc=server.proc, spawn=server.restart)


@contextlib.asynccontextmanager
async def broker(settings: UpSettings) -> AsyncIterator[Broker]:
    """The NATS to use: the configured cluster, or an embedded server (supervised by `run_stack`)."""
    if settings.external_nats:
        if settings.mqtt_port is not None:
            log.warning("mqtt_port ignored: enable MQTT in the configuration of the external NATS cluster")
        yield Broker(settings.nats_url)
        return
    store = settings.nats_store_dir or user_cache_dir() / "nats"
    async with EmbeddedNatsServer(store, mqtt_port=settings.mqtt_port) as server:  # loopback, like NATS
        yield Broker(server.url, server)


def children(settings: UpSettings, nats_url: str) -> list[Child]:
    env = {**os.environ, "SIGHTWIRE_NATS_URL": nats_url}
    gateway_env = {**env, "SIGHTWIRE_HOST": settings.host, "SIGHTWIRE_PORT": str(settings.port)}
    return [
        Child("gateway", component_argv("gateway"), stage=0, env=gateway_env),
        Child("ingest", component_argv("ingest"), stage=0, env=env),
        Child("detector", component_argv("worker", "detector"), stage=1, env=env),
        Child("depth", component_argv("worker", "depth"), stage=1, env=env),
        Child("scene", component_argv("worker", "scene"), stage=1, env=env),
        Child("notifier", component_argv("worker", "notifier"), stage=1, env=env),
    ]


async def run_stack(settings: UpSettings, stop: asyncio.Event) -> None:
    async with broker(settings) as nats:
        nats_url = nats.url
        nc = await connect(settings.model_copy(update={"nats_url": nats_url}), "sightwire-up")
        await provision(nc.jetstream(), settings)
        await drain_quietly(nc, settings.drain_timeout_s)
        broker_child = nats.child()
        supervisor = Supervisor(children(settings, nats_url) + ([broker_child] if broker_child else []))
        kind = "embedded, supervised (restarted on exit, same store and port)" if broker_child else "external"
        log.info(
            "sightwire is up",
            extra={"ui": f"http://{settings.host}:{settings.port}/", "nats": nats_url, "broker": kind},
        )
        console.banner_if_console(f"http://{settings.host}:{settings.port}/", nats_url, not settings.external_nats)
        async with asyncio.TaskGroup() as tg:
            run = tg.create_task(supervisor.run())
            tg.create_task(_relay_stop(stop, supervisor, run))


async def _relay_stop(stop: asyncio.Event, supervisor: Supervisor, run: asyncio.Task[None]) -> None:
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, run}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    supervisor.stopping.set()
