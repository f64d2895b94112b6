"""One session's RESULTS, in stream order -> its finished client messages, in frame order.

`ScenePipeline` is all the order-dependent state of a session except the analyser's: the reorder
window, the tracker, the freshest depth map and the depth-to-metres scale. It is synchronous and
CPU-only (msgpack decode, a Kalman filter and numpy on a small grid), so the session owner runs
it in a worker thread, one RESULTS message at a time. Every output carries the RESULTS stream
sequence of the message it was made from: that is the SCENE `Nats-Msg-Id`.

`state()` / `restore()` capture all of it (waiting entries included, as their RESULTS bytes) for
the checkpoint: a new owner restores the state after RESULTS seq `results_seq` and continues with
the next message.

Times are nanoseconds: `now_ns` is the owner's monotonic clock (for the reorder window's waits),
frame times are the envelopes' `captured_at_ns`; `PipelineLimits` converts the settings once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import subjects
from shared.clock import NS_PER_MS, NS_PER_S
from shared.envelopes import DepthMap, Detections, ErrorResult
from shared.errors import EnvelopeError
from shared.sessions import SessionConfig
from workers.scene import messages
from workers.scene.fusion import Camera, DepthGrid, ScaleEstimator, fuse_frame
from workers.scene.reorder import Entry, EntryKind, ReorderWindow
from workers.scene.tracking import SceneTracker, TrackerParams

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineLimits:
    reorder_window: int = 8
    reorder_wait_ns: int = 200 * NS_PER_MS
    reorder_min_wait_ns: int = 20 * NS_PER_MS
    depth_max_age_ns: int = 1 * NS_PER_S
    scale_ema_alpha: float = 0.3
    scale_max_age_ns: int = 30 * NS_PER_S
    track_lost_ns: int = 2 * NS_PER_S
    track_min_iou: float = 0.3


@dataclass(frozen=True, slots=True)
class Emitted:
    """One finished client message and the RESULTS message it came from."""

    results_seq: int
    message: dict[str, Any]


class ScenePipeline:
    def __init__(self, sid: str, config: SessionConfig, limits: PipelineLimits) -> None:
        self.sid = sid
        self.config = config
        self.limits = limits
        self.window = ReorderWindow(limits.reorder_window, limits.reorder_wait_ns, limits.reorder_min_wait_ns)
        self.tracker = SceneTracker(self._tracker_params())
        self.scale = ScaleEstimator(limits.scale_ema_alpha, limits.scale_max_age_ns)
        self.depth: DepthGrid | None = None
        self.depth_raw: bytes | None = None
        self.results_seq = 0  # the last RESULTS message consumed
        self.dropped: Counter[str] = Counter()
        self.applied = 0

    def _tracker_params(self) -> TrackerParams:
        return TrackerParams(self.config.confidence_threshold, self.limits.track_lost_ns, self.limits.track_min_iou)

    def set_config(self, config: SessionConfig) -> None:
        """A new session config applies from the next frame applied."""
        if config.enable_tracking and not self.config.enable_tracking:
            self.tracker.reset()
        self.config = config
        self.tracker.configure(self._tracker_params())

    def handle(self, subject: str, data: bytes, results_seq: int, now_ns: int) -> list[Emitted]:
        """One RESULTS message -> the client messages now ready (maybe none, maybe several)."""
        self.results_seq = max(self.results_seq, results_seq)
        try:
            kind = subjects.kind_of(subject)
            if kind is subjects.ResultKind.DEPTH:
                self._on_depth(data)
                return self.tick(now_ns)
            entry = self._entry(kind, data, results_seq)
        except (EnvelopeError, ValueError) as exc:
            self.dropped["bad_envelope"] += 1
            log.warning("bad result envelope", extra={"sid": self.sid, "subject": subject[:200], "error": str(exc)})
            return self.tick(now_ns)
        ready, refused = self.window.offer(entry, now_ns)
        if refused is not None:
            self.dropped[refused] += 1
        return [self._emit(e) for e in ready]

    def tick(self, now_ns: int | None) -> list[Emitted]:
        """Release what waited long enough (called between messages and on a timer); `None`: all of it."""
        return [self._emit(e) for e in self.window.release(now_ns)]

    def _entry(self, kind: subjects.ResultKind, data: bytes, results_seq: int) -> Entry:
        if kind is subjects.ResultKind.DET:
            det = Detections.from_bytes(data)
            self._check_sid(det.sid)
            return Entry(det.seq, results_seq, "det", data)
        err = ErrorResult.from_bytes(data)
        self._check_sid(err.sid)
        return Entry(err.seq, results_seq, "error", data)

    def _check_sid(self, sid: str) -> None:
        if sid != self.sid:
            raise EnvelopeError("result sid does not match its subject")

    def _on_depth(self, data: bytes) -> None:
        depth = DepthMap.from_bytes(data)
        self._check_sid(depth.sid)
        if self.depth is None or depth.captured_at_ns >= self.depth.captured_at_ns:
            self.depth = DepthGrid.from_envelope(depth)
            self.depth_raw = data

    def _emit(self, entry: Entry) -> Emitted:
        if entry.kind == "error":
            return Emitted(entry.results_seq, messages.error_message(ErrorResult.from_bytes(entry.data)))
        self.applied += 1
        return Emitted(entry.results_seq, self._describe(Detections.from_bytes(entry.data)))

    def _describe(self, det: Detections) -> dict[str, Any]:
        wanted = set(self.config.classes) if self.config.classes else None
        candidates = [b for b in det.boxes if wanted is None or b.label in wanted]
        track_ids: list[int | None] = [None] * len(candidates)
        if self.config.enable_tracking:
            track_ids = self.tracker.update(candidates, det.captured_at_ns)
        threshold = self.config.confidence_threshold
        shown = [(b, t) for b, t in zip(candidates, track_ids, strict=True) if b.score >= threshold]
        camera = Camera(det.width, det.height, self.config.camera_hfov_deg, self.config.calibration)
        distances = fuse_frame([b for b, _ in shown], camera, self._fresh_depth(det), self.scale, det.captured_at_ns)
        detections = [
            messages.detection(b, det.width, det.height, t, d) for (b, t), d in zip(shown, distances, strict=True)
        ]
        return messages.detection_message(det, detections)

    def _fresh_depth(self, det: Detections) -> DepthGrid | None:
        if self.depth is None:
            return None
        age_ns = abs(det.captured_at_ns - self.depth.captured_at_ns)
        return self.depth if age_ns <= self.limits.depth_max_age_ns else None

    # ---- checkpoint ----

    def state(self) -> dict[str, Any]:
        return {
            "results_seq": self.results_seq,
            "last_seq": self.window.last_seq,
            "gaps": self.window.gaps(),
            "waiting": [[e.seq, e.results_seq, e.kind, e.data] for e in self.window.waiting()],
            "tracker": self.tracker.state(),
            "scale": self.scale.state(),
            "depth": self.depth_raw,
        }

    def restore(self, state: Mapping[str, Any], now_ns: int) -> None:
        self.results_seq = int(state["results_seq"])
        waiting = [Entry(int(s), int(r), _kind(k), bytes(d)) for s, r, k, d in state["waiting"]]
        last_seq = state["last_seq"]
        gaps = [int(g) for g in state.get("gaps", [])]
        self.window.restore(int(last_seq) if last_seq is not None else None, waiting, now_ns, gaps)
        self.tracker.restore(state["tracker"])
        self.scale.restore(state["scale"])
        self.depth, self.depth_raw = None, None
        if state["depth"] is not None:
            self._on_depth(bytes(state["depth"]))


def _kind(raw: Any) -> EntryKind:
    if raw == "det":
        return "det"
    if raw == "error":
        return "error"
    raise ValueError(f"unknown entry kind {raw!r}")
