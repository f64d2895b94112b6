"""The source policy as ingest applies it: what may reach OpenCV, and how sources are shown.

A table of camera URLs an API client might send, each accepted or refused
before any capture code runs, plus the file-root and USB rules and the
redaction used in every log line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.targets import resolve_target
from shared.errors import InvalidSourceURL
from shared.sessions import SourceSpec
from shared.urls import SourcePolicy, redact_url

REFUSED_NETWORK = [
    ("rtsp", "file:///etc/passwd"),
    ("http", "file:///etc/passwd"),
    ("rtsp", "concat:/a.mp4|/b.mp4"),
    ("http", "subfile:,start,0,end,0,:/etc/passwd"),
    ("rtsp", "rtsp://169.254.169.254/latest/meta-data"),
    ("http", "http://169.254.169.254/latest/meta-data/"),
    ("http", "http://metadata.google.internal/computeMetadata/v1/"),
    ("http", "http://[fe80::1]/cam"),
    ("rtsp", "rtsp://cam.local/a|b"),
    ("rtsp", "rtsp://cam/a b"),
    ("rtsp", "rtsp://cam/a\nb"),
    ("http", "ftp://cam/stream"),
    ("rtsp", "http://127.0.0.1/stream"),  # scheme must match the declared type
    ("http", "rtsp://127.0.0.1/stream"),
    ("rtsp", "rtsp://127.0.0.1:99999/x"),
    ("rtsp", "rtsp:///nohost"),
]

ACCEPTED_NETWORK = [
    ("rtsp", "rtsp://127.0.0.1:8554/cam"),
    ("rtsp", "rtsps://user:pw@127.0.0.1/cam"),
    ("http", "http://127.0.0.1:8080/stream.mjpg"),
    ("http", "https://10.0.0.5/video.mp4"),
]


@pytest.mark.parametrize(("kind", "url"), REFUSED_NETWORK)
def test_refused_network_urls(kind: str, url: str) -> None:
    with pytest.raises(InvalidSourceURL):
        resolve_target(SourceSpec(type=kind, url=url), SourcePolicy())  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "url"), ACCEPTED_NETWORK)
def test_accepted_network_urls(kind: str, url: str) -> None:
    target = resolve_target(SourceSpec(type=kind, url=url), SourcePolicy())  # type: ignore[arg-type]
    assert target.kind == "network" and target.url == url
    assert "pw" not in target.display


def test_link_local_only_when_allowed() -> None:
    spec = SourceSpec(type="http", url="http://169.254.169.254/cam")
    assert resolve_target(spec, SourcePolicy(allow_link_local=True)).url == spec.url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://user:pass@cam:554/live", "rtsp://user:***@cam:554/live"),
        ("rtsp://user:p%40ss@10.0.0.2/live?x=1", "rtsp://user:***@10.0.0.2/live?x=1"),
        ("http://token@cam/stream", "http://***@cam/stream"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("rtsp://cam/live", "rtsp://cam/live"),
    ],
)
def test_redaction(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_file_sources_stay_inside_their_roots(tmp_path: Path) -> None:
    root = tmp_path / "media"
    root.mkdir()
    (root / "clip.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    (root / "escape.mp4").symlink_to(tmp_path / "secret.mp4")
    policy = SourcePolicy(file_roots=(root,))

    for url in ("clip.mp4", str(root / "clip.mp4"), f"file://{root / 'clip.mp4'}"):
        target = resolve_target(SourceSpec(type="file", url=url, loop=True), policy)
        assert target.kind == "file" and target.path == (root / "clip.mp4").resolve() and target.loop
    for url in ("../secret.mp4", str(tmp_path / "secret.mp4"), "escape.mp4", "concat:clip.mp4|clip.mp4", "a\x00b"):
        with pytest.raises(InvalidSourceURL):
            resolve_target(SourceSpec(type="file", url=url), policy)
    with pytest.raises(InvalidSourceURL, match="disabled"):
        resolve_target(SourceSpec(type="file", url="clip.mp4"), SourcePolicy())


def test_usb_devices_only_when_enabled() -> None:
    on = SourcePolicy(usb_allowed=True)
    assert resolve_target(SourceSpec(type="usb", url="/dev/video2"), on).device == 2
    assert resolve_target(SourceSpec(type="usb", url="0"), on).device == 0
    for url in ("/dev/sda", "/dev/video0/../sda", "rtsp://x/y", "-1"):
        with pytest.raises(InvalidSourceURL):
            resolve_target(SourceSpec(type="usb", url=url), on)
    with pytest.raises(InvalidSourceURL, match="disabled"):
        resolve_target(SourceSpec(type="usb", url="0"), SourcePolicy())


@pytest.mark.parametrize("kind", ["upload", "webrtc"])
def test_pushed_sources_are_not_targets(kind: str) -> None:
    with pytest.raises(InvalidSourceURL):
        resolve_target(SourceSpec(type=kind, url="rtsp://127.0.0.1/x"), SourcePolicy())  # type: ignore[arg-type]
