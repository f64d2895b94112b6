"""The capture thread body on a real clip: sampling, looping, resizing, stopping, and a broken file."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from ingest.capture import Timeouts
from ingest.grabber import CaptureControl, Grabber, GrabOptions
from ingest.targets import CaptureTarget
from shared.producer import FrameProducer, Picture
from tests.ingest.conftest import CLIP_FPS, CLIP_FRAMES_PER_PHOTO, CLIP_PHOTOS

CLIP_FRAMES = CLIP_PHOTOS * CLIP_FRAMES_PER_PHOTO
OPTIONS = GrabOptions(Timeouts(5, 5), jpeg_quality=80, max_side=1920)


def file_target(path: Path, loop: bool = False) -> CaptureTarget:
    return CaptureTarget("file", "file", f"file:{path}", loop=loop, path=path)


class Sink:
    """Collects emitted frames; `admit` samples like a camera session does (its producer's `admit`)."""

    def __init__(self, limit: int | None = None, fps: float = 10) -> None:
        self.frames: list[Picture] = []
        self.skipped = 0
        self.limit = limit
        self.fps = fps
        self._producer = FrameProducer(None, "s", "file", 1.0)  # type: ignore[arg-type]  # admit() only

    def emit(self, captured: Picture) -> bool:
        self.frames.append(captured)
        return self.limit is None or len(self.frames) < self.limit

    def admit(self, captured_at_ns: int) -> bool:
        keep = self._producer.admit(captured_at_ns, self.fps)
        self.skipped += not keep
        return keep


def test_plays_a_clip_once_at_native_speed(media_dir: Path) -> None:
    sink = Sink(fps=30)
    grabber = Grabber(file_target(media_dir / "clip.mp4"), OPTIONS, CaptureControl(30), sink.emit, sink.admit)
    outcome = grabber.run()
    assert (outcome.reason, outcome.frames, len(sink.frames), sink.skipped) == ("ended", CLIP_FRAMES, CLIP_FRAMES, 0)
    span_s = (sink.frames[-1].captured_at_ns - sink.frames[0].captured_at_ns) / 1e9
    assert span_s >= 0.8 * (CLIP_FRAMES - 1) / CLIP_FPS
    image = cv2.imdecode(np.frombuffer(sink.frames[0].jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3) and (sink.frames[0].width, sink.frames[0].height) == (320, 240)


def test_samples_down_loops_and_downscales(media_dir: Path) -> None:
    one_pass = CLIP_FRAMES // 2  # at 5 of 10 fps
    sink = Sink(limit=one_pass + 2, fps=5)
    options = GrabOptions(Timeouts(5, 5), jpeg_quality=60, max_side=160)
    grabber = Grabber(file_target(media_dir / "clip.mp4", loop=True), options, CaptureControl(5), sink.emit, sink.admit)
    outcome = grabber.run()
    assert outcome.reason == "stopped" and outcome.frames == one_pass + 1, "it went on past the clip's end"
    assert sink.skipped >= one_pass - 2, "about every other frame is skipped for fps"
    assert {(f.width, f.height) for f in sink.frames} == {(160, 120)}


def test_stop_ends_the_thread_promptly(media_dir: Path) -> None:
    control = CaptureControl(10)
    sink = Sink()
    grabber = Grabber(file_target(media_dir / "clip.mp4", loop=True), OPTIONS, control, sink.emit, sink.admit)
    thread = threading.Thread(target=grabber.run)
    thread.start()
    deadline = time.monotonic() + 10
    while not sink.frames and time.monotonic() < deadline:
        time.sleep(0.02)
    control.stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and sink.frames


def test_a_file_that_is_no_video_fails_to_open(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    sink = Sink()
    outcome = Grabber(file_target(junk), OPTIONS, CaptureControl(10), sink.emit, sink.admit).run()
    assert outcome.reason == "open_failed" and outcome.frames == 0
    missing = Grabber(file_target(tmp_path / "gone.mp4"), OPTIONS, CaptureControl(10), sink.emit, sink.admit).run()
    assert missing.reason == "open_failed"


def test_a_silent_camera_cannot_hang_the_thread() -> None:
    """A camera that accepts the connection and then says nothing: the open timeout ends the attempt."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/video.mjpg"
        target = CaptureTarget("network", "http", url, url=url)
        sink = Sink()
        options = GrabOptions(Timeouts(open_s=1, read_s=1), jpeg_quality=80, max_side=1920)
        outcome = Grabber(target, options, CaptureControl(10), sink.emit, sink.admit).run()
    assert outcome.reason == "open_failed" and not sink.frames


def test_video_tap_gets_every_frame_at_the_camera_rate_with_the_published_capture_time(media_dir: Path) -> None:
    """The session analyses 5 of 10 fps; the video tap sees all 10, and analysed frames share their capture time."""
    sink = Sink(fps=5)
    tapped: list[tuple[tuple[int, ...], int]] = []
    control = CaptureControl(5, tap=lambda image, at_ns: tapped.append((image.shape, at_ns)))
    outcome = Grabber(file_target(media_dir / "clip.mp4"), OPTIONS, control, sink.emit, sink.admit).run()
    assert outcome.reason == "ended"
    assert len(tapped) == CLIP_FRAMES and {shape for shape, _ in tapped} == {(240, 320, 3)}
    assert len(sink.frames) + sink.skipped == CLIP_FRAMES and len(sink.frames) <= CLIP_FRAMES // 2 + 1
    tapped_times = {at_ns for _, at_ns in tapped}
    assert all(f.captured_at_ns in tapped_times for f in sink.frames)
