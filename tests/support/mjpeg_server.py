"""An MJPEG-over-HTTP camera (and a tiny file server) on 127.0.0.1, for tests.

`GET /stream.mjpg` is what cheap IP cameras serve: `multipart/x-mixed-replace`
with one JPEG per part, paced at `fps`, looping over the given frames until
the client leaves or the server stops. Optional HTTP Basic auth checks that
credentials in a camera URL work (and are never logged by ingest). `files`
serves static files with single-range support, so FFmpeg can read a video
file over HTTP (or a playlist a test crafts). Threaded, one port picked by
the OS, `start()`/`stop()`; `stop()` also ends open streams.
"""

from __future__ import annotations

import base64
import contextlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BOUNDARY = "sightwireframe"
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class MjpegServer:
    def __init__(
        self,
        frames: list[bytes],
        fps: float = 10.0,
        credentials: tuple[str, str] | None = None,
        files: dict[str, Path] | None = None,
    ) -> None:
        assert frames, "an MJPEG stream needs at least one frame"
        self.frames = frames
        self.fps = fps
        self.credentials = credentials
        self.files = files or {}
        self.stopping = threading.Event()
        self.clients = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "not started"
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/stream.mjpg", with_credentials: bool = True) -> str:
        auth = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials and with_credentials else ""
        return f"http://{auth}127.0.0.1:{self.port}{path}"

    def start(self) -> MjpegServer:
        handler = type("Handler", (_Handler,), {"camera": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mjpeg-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    camera: MjpegServer
    protocol_version = "HTTP/1.0"  # one request per connection: what FFmpeg's seeks expect

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request lines."""

    def do_GET(self) -> None:
        if not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="camera"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.split("?")[0] == "/stream.mjpg":
            self._stream()
        elif self.path in self.camera.files:
            self._file(self.camera.files[self.path])
        else:
            self.send_error(404)

    def _authorized(self) -> bool:
        if self.camera.credentials is None:
            return True
        user, password = self.camera.credentials
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return self.headers.get("Authorization") == expected

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.camera.clients += 1
        period = 1.0 / self.camera.fps
        index = 0
        try:
            while not self.camera.stopping.is_set():
                jpeg = self.camera.frames[index % len(self.camera.frames)]
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpeg + b"\r\n")
                self.wfile.flush()
                index += 1
                self.camera.stopping.wait(period)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.camera.clients -= 1
            self.close_connection = True

    def _file(self, path: Path) -> None:
        data = path.read_bytes()
        start, end = 0, len(data) - 1
        match = _RANGE.match(self.headers.get("Range", ""))
        if match and int(match.group(1)) >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2) or end), end)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data[start : end + 1])
