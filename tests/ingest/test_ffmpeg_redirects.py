"""FFmpeg, configured as ingest configures it, does not follow an HTTP redirect.

A camera URL is checked (`shared.urls`) before FFmpeg opens it; a server that
answers 302 to another address would otherwise walk FFmpeg past that check.
Real OpenCV/FFmpeg against two loopback servers: one answers 302 to the other,
an MJPEG camera. The controls show the camera opens directly, and through the
redirect when `max_redirects` is left out, so the refusal is that option's doing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ingest.capture import Timeouts, open_capture
from ingest.ffmpeg import capture_options
from ingest.targets import CaptureTarget
from tests.support import clips
from tests.support.mjpeg_server import MjpegServer

TIMEOUTS = Timeouts(open_s=5.0, read_s=5.0)


class Redirector:
    """Answers every GET with 302 to `location`, counting the requests."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(302)
                self.send_header("Location", outer.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/camera"

    def __enter__(self) -> Redirector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def camera(coco_dir: Path) -> Iterator[MjpegServer]:
    frames = clips.jpeg_frames(clips.coco_photos(coco_dir, 1), size=(160, 120))
    with MjpegServer(frames, fps=10) as srv:
        yield srv


def opens(url: str) -> bool:
    """Open `url` as ingest does and read one frame."""
    capture = open_capture(CaptureTarget("network", "http", "test camera", url=url), TIMEOUTS)
    try:
        return capture.opened and capture.cap.read()[0]
    finally:
        capture.cap.release()


def test_a_redirecting_camera_is_refused(camera: MjpegServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", capture_options(1.0))
    assert opens(camera.url()), "the camera itself opens with ingest's options"
    with Redirector(camera.url()) as redirector:
        assert not opens(redirector.url)
        assert redirector.requests >= 1, "FFmpeg asked the redirecting server"


def test_without_the_option_ffmpeg_would_follow(camera: MjpegServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same redirect is followed when `max_redirects` is left out."""
    followed = "|".join(o for o in capture_options(1.0).split("|") if not o.startswith("max_redirects"))
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", followed)
    with Redirector(camera.url()) as redirector:
        assert opens(redirector.url)
