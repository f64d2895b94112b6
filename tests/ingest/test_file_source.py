"""A local clip (made from COCO photos) played by a real ingest process.

Checks the whole camera path on the simplest source: frames reach
`sw.frames.<sid>` as valid envelopes at about the session's fps, a looping
clip keeps going past its end, a non-looping one plays at its native speed
(not as fast as the CPU decodes) and then stops, depth is rate-limited to
`depth_fps`, and a config change reaches the running source.
"""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path

import cv2
import numpy as np

from shared.envelopes import Frame
from shared.sessions import SessionRecord, SessionStore
from tests.ingest.conftest import (
    CLIP_FPS,
    CLIP_FRAMES_PER_PHOTO,
    CLIP_PHOTOS,
    Traffic,
    camera_session,
    ingest_env,
    start_ingest,
    wait_for,
)
from tests.support.procs import ComponentRunner

CLIP_FRAMES = CLIP_PHOTOS * CLIP_FRAMES_PER_PHOTO


def intervals_s(frames: list[Frame]) -> list[float]:
    return [(b.captured_at_ns - a.captured_at_ns) / 1e9 for a, b in itertools.pairwise(frames)]


def decodes(frame: Frame) -> bool:
    image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
    return image is not None and image.shape[:2] == (frame.height, frame.width)


async def test_file_clip_loops_at_session_fps_and_follows_config(
    components: ComponentRunner, store: SessionStore, traffic: Traffic, media_dir: Path
) -> None:
    await start_ingest(components, traffic, "ingest-file", ingest_env(media_dir))
    await camera_session(store, "loop", "file", "clip.mp4", loop=True, fps_limit=5, depth_fps=1, max_frame_age_ms=1500)
    await camera_session(store, "once", "file", str(media_dir / "clip.mp4"), fps_limit=30, enable_depth=False)

    one_pass_at_5fps = CLIP_FRAMES * 5 / CLIP_FPS
    await wait_for(lambda: traffic.count("loop") > one_pass_at_5fps + 5, 30, "the looping clip to pass its end")
    frames = traffic.frames["loop"]
    seqs = [f.seq for f in frames]
    assert seqs == sorted(set(seqs)), "seq must be strictly increasing"
    assert all(f.sid == "loop" and f.source == "file" and (f.width, f.height) == (320, 240) for f in frames)
    assert all(f.max_age_ms == 1500 and f.captured_at_ns <= f.ingested_at_ns for f in frames)
    assert all(decodes(f) for f in frames[:5])
    median = statistics.median(intervals_s(frames))
    assert 0.1 < median < 0.4, f"5 fps means ~0.2 s between frames, got {median:.3f}"
    depth = [f.depth for f in frames]
    assert any(depth) and not all(depth), "depth_fps=1 at 5 fps marks only some frames for depth"

    # the non-looping clip played once, at its own 10 fps, and then stopped
    await wait_for(lambda: traffic.count("once") >= CLIP_FRAMES - 2, 30, "the one-shot clip")
    once = traffic.frames["once"]
    span_s = (once[-1].captured_at_ns - once[0].captured_at_ns) / 1e9
    assert span_s > 0.6 * CLIP_FRAMES / CLIP_FPS, f"a 3 s clip played in {span_s:.2f} s: not at native speed"
    assert not any(f.depth for f in once)

    # a config change applies to the running source
    def slower(record: SessionRecord) -> SessionRecord:
        return record.model_copy(update={"config": record.config.model_copy(update={"fps_limit": 2})})

    await store.update("loop", slower)
    mark = traffic.count("loop")
    await wait_for(lambda: traffic.count("loop") >= mark + 8, 30, "frames after slowing down")
    later = traffic.frames["loop"][mark + 2 :]
    median = statistics.median(intervals_s(later))
    assert 0.35 < median < 1.0, f"2 fps means ~0.5 s between frames, got {median:.3f}"
    assert traffic.count("once") <= CLIP_FRAMES, "a clip without loop must not restart"
