"""Fixtures for ingest tests: a provisioned server with short leases, real ingest processes, clips.

The JetStream objects are provisioned here with `LEASE_TTL_S` (the sw-leases
TTL is fixed when the bucket is created), and every ingest process gets the
same value, so failover tests run in seconds. Ingest processes are real
`sightwire ingest` processes started through the `components` fixture; one is
ready when its first heartbeat arrives.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from shared import subjects
from shared.envelopes import ErrorResult, Frame, Heartbeat
from shared.jetstream import provision
from shared.natsserver import EmbeddedNatsServer
from shared.sessions import SessionConfig, SessionRecord, SessionStore, SourceSpec
from shared.settings import NatsSettings
from tests.support import clips
from tests.support.procs import ComponentRunner

LEASE_TTL_S = 3.0
CLIP_FPS = 10.0
CLIP_FRAMES_PER_PHOTO = 10
CLIP_PHOTOS = 3  # 30 frames: a 3 s clip


async def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll `predicate` until true; returns the seconds it took, fails with `what` after the deadline."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> float:
    """`wait_for` for a check that must talk to NATS (a KV read, say)."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def lease_owner(leases: KeyValue, sid: str) -> str | None:
    try:
        entry = await leases.get(sid)
    except KeyNotFoundError:
        return None
    return entry.value.decode() if entry.value else None


@pytest.fixture
async def ijs(nc: NATS, nats_server: EmbeddedNatsServer) -> JetStreamContext:
    """JetStream provisioned with the short lease TTL the ingest processes also get."""
    context = nc.jetstream()
    await provision(context, NatsSettings(nats_url=nats_server.url, lease_ttl_s=LEASE_TTL_S))
    return context


@pytest.fixture
async def store(ijs: JetStreamContext) -> SessionStore:
    return SessionStore(await ijs.key_value(subjects.SESSIONS_BUCKET))


@pytest.fixture
async def leases(ijs: JetStreamContext) -> KeyValue:
    return await ijs.key_value(subjects.LEASES_BUCKET)


@pytest.fixture
def media_dir(tmp_path: Path, coco_dir: Path) -> Path:
    """The file-source root of the test's ingest processes, holding `clip.mp4` (3 s at 10 fps)."""
    folder = tmp_path / "media"
    folder.mkdir()
    photos = clips.coco_photos(coco_dir, CLIP_PHOTOS)
    clips.write_clip(folder / "clip.mp4", photos, fps=CLIP_FPS, frames_per_photo=CLIP_FRAMES_PER_PHOTO)
    return folder


def ingest_env(media_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "SIGHTWIRE_LEASE_TTL_S": str(LEASE_TTL_S),
        "SIGHTWIRE_FILE_SOURCE_ROOTS": str(media_dir),
        "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.5",
        "SIGHTWIRE_CLAIM_INTERVAL_S": "0.5",
        "SIGHTWIRE_RECONNECT_INITIAL_S": "0.2",
        "SIGHTWIRE_RECONNECT_MAX_S": "1",
        "SIGHTWIRE_OPEN_TIMEOUT_S": "5",
        "SIGHTWIRE_READ_TIMEOUT_S": "5",
        "SIGHTWIRE_DRAIN_TIMEOUT_S": "2",
        "SIGHTWIRE_LOG_LEVEL": "INFO",
        "SIGHTWIRE_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
    }
    return {**env, **extra}


@dataclass
class Traffic:
    """Everything ingest publishes that a test looks at, collected from core NATS subscriptions."""

    frames: dict[str, list[Frame]] = field(default_factory=dict)
    arrival: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[ErrorResult]] = field(default_factory=dict)
    beats: dict[str, Heartbeat] = field(default_factory=dict)

    async def on_frame(self, msg: Msg) -> None:
        frame = Frame.from_bytes(msg.data)
        self.frames.setdefault(frame.sid, []).append(frame)
        self.arrival.setdefault(frame.sid, []).append(time.monotonic())

    async def on_error(self, msg: Msg) -> None:
        error = ErrorResult.from_bytes(msg.data)
        self.errors.setdefault(error.sid, []).append(error)

    async def on_beat(self, msg: Msg) -> None:
        beat = Heartbeat.from_bytes(msg.data)
        if beat.service == "ingest":
            self.beats[beat.instance] = beat

    def count(self, sid: str) -> int:
        return len(self.frames.get(sid, []))

    def codes(self, sid: str) -> list[str]:
        return [e.code for e in self.errors.get(sid, [])]

    def owned_by(self, instance: str) -> set[str]:
        beat = self.beats.get(instance)
        return {s for s in beat.info.get("owned", "").split(",") if s} if beat else set()


@pytest.fixture
async def traffic(nc: NATS) -> AsyncIterator[Traffic]:
    seen = Traffic()
    subs = [
        await nc.subscribe(subjects.FRAMES_ALL, cb=seen.on_frame),
        await nc.subscribe("sw.results.*.error", cb=seen.on_error),
        await nc.subscribe(subjects.HEARTBEAT_ALL, cb=seen.on_beat),
    ]
    yield seen
    for sub in subs:
        await sub.unsubscribe()


async def start_ingest(
    components: ComponentRunner, traffic: Traffic, instance: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start `sightwire ingest` as `instance` and wait for its first heartbeat."""
    proc = components.start("ingest", env={**env, "SIGHTWIRE_INSTANCE_ID": instance}, name=instance)
    try:
        await wait_for(lambda: instance in traffic.beats or proc.poll() is not None, 60, f"{instance} heartbeat")
    finally:
        assert proc.poll() is None, f"{instance} exited:\n{components.log_of(proc)[-3000:]}"
    return proc


async def camera_session(
    store: SessionStore, sid: str, kind: str, url: str, loop: bool = False, **config: object
) -> SessionRecord:
    record = SessionRecord(
        sid=sid,
        token_hash="test",
        source=SourceSpec(type=kind, url=url, loop=loop),  # type: ignore[arg-type]
        config=SessionConfig.model_validate(config),
    )
    await store.create(record)
    return record
