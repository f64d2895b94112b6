"""Verified download against a real local HTTP server serving the real model file.

The server (http.server on 127.0.0.1, port picked by the OS) stands in for the
model's origin through `model_mirror`, exactly as a corporate mirror would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from workers.models.download import mirrored
from workers.models.registry import ModelError, cli_pull, pull, resolve, spec_of
from workers.settings import WorkerSettings


class Mirror:
    """Serves `files[basename]` for any path; records the paths asked for."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                body = mirror.files.get(self.path.rsplit("/", 1)[-1])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/prefix"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    m = Mirror()
    m.thread.start()
    yield m
    m.server.shutdown()
    m.server.server_close()
    m.thread.join(5)


@pytest.fixture
def settings(tmp_path: Path, mirror: Mirror) -> WorkerSettings:
    # the package's own copies would answer first: these tests are about the download step
    return WorkerSettings(
        model_dir=None, model_cache_dir=tmp_path / "cache", model_mirror=mirror.url, model_packaged=False
    )


def test_mirror_replaces_the_origin_and_keeps_the_path() -> None:
    url = "https://github.com/a/b/raw/abc/model/x.onnx"
    assert mirrored(url, "https://mirror.corp/gh/") == "https://mirror.corp/gh/a/b/raw/abc/model/x.onnx"
    assert mirrored(url, None) == url


def test_pinned_file_lands_in_the_cache(settings: WorkerSettings, mirror: Mirror, model_dir: Path) -> None:
    mirror.files["yolox_nano.onnx"] = (model_dir / "yolox_nano.onnx").read_bytes()
    path = resolve(spec_of("yolox_nano"), settings)
    assert path == settings.model_cache_dir / "yolox_nano.onnx"
    assert path.read_bytes() == mirror.files["yolox_nano.onnx"]
    assert mirror.requests == ["/prefix/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/"
                               "0f785c070ce8da070aeaeef46c0da7904ff7012e/model/yolox_nano.onnx"]  # fmt: skip
    assert resolve(spec_of("yolox_nano"), settings) == path and len(mirror.requests) == 1  # cached now
    assert sorted(p.name for p in settings.model_cache_dir.iterdir()) == ["yolox_nano.onnx"]


def test_corrupted_file_is_refused_and_nothing_is_left(
    settings: WorkerSettings, mirror: Mirror, model_dir: Path
) -> None:
    body = bytearray((model_dir / "yolox_nano.onnx").read_bytes())
    body[len(body) // 2] ^= 0xFF
    mirror.files["yolox_nano.onnx"] = bytes(body)
    with pytest.raises(ModelError, match="does not match the pinned"):
        pull(spec_of("yolox_nano"), settings)
    assert list(settings.model_cache_dir.iterdir()) == []


def test_missing_file_on_the_mirror_is_an_error(settings: WorkerSettings, mirror: Mirror) -> None:
    with pytest.raises(ModelError, match="404"):
        pull(spec_of("yolox_nano"), settings)
    assert list(settings.model_cache_dir.iterdir()) == []


def test_cli_pull_reports_each_model(
    settings: WorkerSettings, mirror: Mirror, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror.files["yolox_nano.onnx"] = (model_dir / "yolox_nano.onnx").read_bytes()
    assert cli_pull(settings, ["yolox_nano"]) == 0
    assert "yolox_nano: pulled" in capsys.readouterr().out
    assert cli_pull(settings, ["yolox_nano", "yolov8n", "nope"]) == 1
    out = capsys.readouterr().out
    assert "yolox_nano: present" in out and "yolov8n: FAILED" in out and "nope: FAILED: unknown model" in out
