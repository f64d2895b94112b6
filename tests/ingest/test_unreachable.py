"""Sources that never work, through a real ingest process: each ends as a failed session with a code.

- a camera on a closed port: N failures in M seconds -> the record says
  failed/SOURCE_UNREACHABLE and an error result says so too; the lease is let go;
- a playlist served over HTTP that points FFmpeg at a local `file://` segment:
  the protocol whitelist stops it (a twin playlist with an HTTP segment plays,
  so the refusal is the whitelist's doing);
- a record written around the gateway with a forbidden URL: refused before
  OpenCV sees it (INVALID_SOURCE_URL);
and the camera password in the unreachable URL never reaches the log. A
camera that accepts connections and then stays silent does not keep the
process from a clean, prompt stop.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.js.kv import KeyValue

from shared.errors import ErrorCode
from shared.sessions import SessionStore
from tests.ingest.conftest import Traffic, camera_session, eventually, ingest_env, lease_owner, start_ingest, wait_for
from tests.support import clips
from tests.support.mjpeg_server import MjpegServer
from tests.support.procs import ComponentRunner

PASSWORD = "Unreachable-S3cret-7"
PLAYLIST = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{segment}\n#EXT-X-ENDLIST\n"


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def playlists(tmp_path: Path, coco_dir: Path) -> Iterator[MjpegServer]:
    segment = tmp_path / "served" / "seg.ts"
    segment.parent.mkdir()
    clips.write_clip(segment, clips.coco_photos(coco_dir, 2), fps=10)
    (tmp_path / "good.m3u8").write_text(PLAYLIST.format(segment="seg.ts"))
    (tmp_path / "evil.m3u8").write_text(PLAYLIST.format(segment=f"file://{segment}"))
    files = {"/good.m3u8": tmp_path / "good.m3u8", "/evil.m3u8": tmp_path / "evil.m3u8", "/seg.ts": segment}
    with MjpegServer([b"unused"], files=files) as srv:
        yield srv


async def status_of(store: SessionStore, sid: str) -> tuple[str, str | None]:
    found = await store.get(sid)
    assert found is not None
    return found[0].status, found[0].error_code


async def test_unreachable_and_forbidden_sources_fail_with_codes(
    components: ComponentRunner,
    store: SessionStore,
    leases: KeyValue,
    traffic: Traffic,
    media_dir: Path,
    playlists: MjpegServer,
) -> None:
    env = ingest_env(media_dir, SIGHTWIRE_FAILURE_LIMIT="3", SIGHTWIRE_RECONNECT_INITIAL_S="0.1")
    proc = await start_ingest(components, traffic, "ingest-fail", env)
    await camera_session(store, "dead", "rtsp", f"rtsp://cam:{PASSWORD}@127.0.0.1:{closed_port()}/live")
    await camera_session(store, "evil", "http", playlists.url("/evil.m3u8"))
    await camera_session(store, "good", "http", playlists.url("/good.m3u8"))
    await camera_session(store, "sneaky", "rtsp", "file:///etc/passwd")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    await camera_session(store, "silent", "http", f"http://127.0.0.1:{silent.getsockname()[1]}/video.mjpg")
    expected = {
        "dead": ("failed", ErrorCode.SOURCE_UNREACHABLE),
        "evil": ("failed", ErrorCode.SOURCE_UNREACHABLE),
        "sneaky": ("failed", ErrorCode.INVALID_SOURCE_URL),
    }

    async def all_failed() -> bool:
        return all([await status_of(store, sid) == want for sid, want in expected.items()])

    await eventually(all_failed, 60, f"sessions to fail as {expected}")
    for sid, (_, code) in expected.items():
        await wait_for(lambda sid=sid, code=code: code in traffic.codes(sid), 10, f"{code} result of {sid}")
        await eventually(lambda sid=sid: _no_lease(leases, sid), 10, f"the lease of {sid} to be released")
        assert traffic.count(sid) == 0
    await wait_for(lambda: traffic.count("good") >= 5, 30, "frames of the playlist with an HTTP segment")

    log = components.log_of(proc)
    assert PASSWORD not in log
    assert "cam:***@127.0.0.1" in log

    assert await eventually(lambda: _lease_is(leases, "silent", "ingest-fail"), 5, "the silent camera claimed") >= 0
    stopping = time.monotonic()
    assert await asyncio.to_thread(components.stop, proc) == 0, "SIGTERM with a camera stuck opening: clean exit"
    print(f"\nstopped in {time.monotonic() - stopping:.2f} s with a camera stuck in open")
    silent.close()


async def _no_lease(leases: KeyValue, sid: str) -> bool:
    return await lease_owner(leases, sid) is None


async def _lease_is(leases: KeyValue, sid: str, owner: str) -> bool:
    return await lease_owner(leases, sid) == owner
