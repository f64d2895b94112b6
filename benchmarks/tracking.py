"""`python -m benchmarks.tracking`: the old greedy-IoU tracker vs ByteTrack, same clip, same run.

The clip is synthetic with known ground truth. Each sequence is one COCO photo seen through a
virtual camera that pans and zooms along a known path (crop window -> 640x480), with a grey bar
(the occluder) sweeping across the frame and back. Ground truth: the real detector's confident
boxes (score >= 0.5) on the whole photo, carried through each frame's known transform; an object
counts in a frame while at least half of its box is inside the frame and not behind the bar.
Tracker input, two runs (`--boxes`):
- `detector`: the real detector (the configured model, as the worker runs it) on every rendered
  frame: real misses, jitter, class flicker and occluder effects, but the ground truth is only as
  good as the detector on the whole photo (zoomed-in frames reveal objects it missed: counted FP);
- `noisy-gt`: the ground-truth boxes with known noise (seeded): 4 % jitter of the box size, 8 %
  misses, scores that fall with visibility (a half-hidden object gives a weak box), 1 false box
  per frame on average at a weak score.

Both trackers see the same boxes. The old one (gateway/tracker.py before the scene stage, copied
below) got only boxes above the session threshold, as the gateway fed it; ByteTrack gets every
box the worker publishes (>= its score threshold) and uses the weak ones only to keep tracks
alive, as the scene stage feeds it. Scoring uses the CLEAR (MOTA, ID switches, fragmentations)
and identity (IDF1) metrics of the `trackers` library's evaluator (a TrackEval port), at IoU 0.5.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from trackers.eval import (
    aggregate_clear_metrics,
    aggregate_identity_metrics,
    box_iou,
    compute_clear_metrics,
    compute_identity_metrics,
)

from shared.clock import s_to_ns
from shared.envelopes import Box
from workers.engine import Engine
from workers.models.registry import resolve, spec_of
from workers.scene.settings import SceneSettings
from workers.scene.tracking import SceneTracker, TrackerParams
from workers.settings import WorkerSettings
from workers.tasks import DetectorTask

REPO = Path(__file__).resolve().parent.parent
OUT_W, OUT_H = 640, 480
THRESHOLD = 0.5  # the session's confidence threshold (the default)
FPS = 10.0
BoxT = tuple[float, float, float, float]


# ---- ground truth and the clip ----


@dataclass(frozen=True, slots=True)
class View:
    """The crop window of frame t in photo pixels: x0, y0 and the scale photo px -> output px."""

    x0: float
    y0: float
    scale: float

    def apply(self, box: BoxT) -> BoxT:
        s = self.scale
        return ((box[0] - self.x0) * s, (box[1] - self.y0) * s, (box[2] - self.x0) * s, (box[3] - self.y0) * s)


def view_at(t: int, frames: int, width: int, height: int) -> View:
    """Zoom 1.0 -> 1.8 -> 1.0 while the window's centre travels an ellipse around the photo centre."""
    phase = 2 * math.pi * t / frames
    zoom = 1.4 - 0.4 * math.cos(phase)
    crop_w = min(width, height * OUT_W / OUT_H) / zoom
    crop_h = crop_w * OUT_H / OUT_W
    cx = width / 2 + (width - crop_w) / 2 * 0.9 * math.sin(phase)
    cy = height / 2 + (height - crop_h) / 2 * 0.9 * math.sin(2 * phase)
    return View(cx - crop_w / 2, cy - crop_h / 2, OUT_W / crop_w)


def occluder_at(t: int, frames: int) -> tuple[float, float]:
    """x range of the bar: sweeps left to right and back, once per clip."""
    width = OUT_W * 0.14
    pos = (1 - math.cos(2 * math.pi * t / frames)) / 2  # 0 -> 1 -> 0
    left = -width + pos * (OUT_W + width)
    return left, left + width


def render(photo: np.ndarray, view: View, bar: tuple[float, float]) -> np.ndarray:
    m = np.array([[view.scale, 0, -view.x0 * view.scale], [0, view.scale, -view.y0 * view.scale]], dtype=np.float64)
    frame = cv2.warpAffine(photo, m, (OUT_W, OUT_H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    x0, x1 = max(0, round(bar[0])), min(OUT_W, round(bar[1]))
    if x1 > x0:
        frame[:, x0:x1] = (128, 128, 128)
    return frame


def visible_fraction(box: BoxT, bar: tuple[float, float]) -> float:
    area = (box[2] - box[0]) * (box[3] - box[1])
    if area <= 0:
        return 0.0
    ix0, iy0, ix1, iy1 = max(box[0], 0), max(box[1], 0), min(box[2], OUT_W), min(box[3], OUT_H)
    inside_w, inside_h = max(0.0, ix1 - ix0), max(0.0, iy1 - iy0)
    hidden_w = max(0.0, min(ix1, bar[1]) - max(ix0, bar[0]))
    return (inside_w - hidden_w) * inside_h / area


def clipped(box: BoxT) -> BoxT:
    return (max(box[0], 0), max(box[1], 0), min(box[2], OUT_W), min(box[3], OUT_H))


@dataclass
class Sequence_:
    name: str
    gt: list[list[tuple[int, BoxT]]]  # per frame: (object id, pixel box)
    dets: list[list[Box]]  # per frame: the detector's boxes (normalised)
    noisy: list[list[Box]]  # per frame: ground truth + known noise (normalised)


def noisy_boxes(
    shown: list[tuple[int, BoxT]], classes: list[int], bar: tuple[float, float], rng: np.random.Generator
) -> list[Box]:
    out = []
    for i, box in shown:
        vis = visible_fraction(box, bar)
        if vis < 0.2 or rng.random() < 0.08:
            continue
        w, h = box[2] - box[0], box[3] - box[1]
        jitter = rng.normal(0, 0.04, 4) * (w, h, w, h)
        x1, y1, x2, y2 = clipped(tuple(float(v) for v in np.asarray(box) + jitter))  # type: ignore[arg-type]
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        score = float(np.clip(0.95 * vis + rng.normal(0, 0.05), 0.26, 0.99))
        out.append(Box(x1 / OUT_W, y1 / OUT_H, x2 / OUT_W, y2 / OUT_H, score, classes[i], "object"))
    for _ in range(rng.poisson(1.0)):
        cx, cy, bw, bh = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2), rng.uniform(0.05, 0.3)
        out.append(Box(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, float(rng.uniform(0.26, 0.55)), 0, "fp"))
    return out


class Detector:
    def __init__(self, settings: WorkerSettings) -> None:
        spec = spec_of(settings.detector_model, "detector")
        self.engine = Engine.load(resolve(spec, settings), spec.input, hint="LATENCY")
        self.task = DetectorTask(spec, settings)

    def boxes(self, image: np.ndarray) -> list[Box]:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        prepared = self.task.prepare(buf.tobytes())
        return self.task.finish(self.engine.infer_sync(prepared.tensor), prepared.geometry)


def build_sequence(path: Path, frames: int, detector: Detector) -> Sequence_:
    photo = cv2.imread(str(path))
    assert photo is not None, path
    h, w = photo.shape[:2]
    found = [b for b in detector.boxes(photo) if b.score >= THRESHOLD]
    objects = [(b.x1 * w, b.y1 * h, b.x2 * w, b.y2 * h) for b in found]
    classes = [b.class_id for b in found]
    rng = np.random.default_rng(int(path.stem[-6:]))  # seeded per photo: the same noise every run
    seq = Sequence_(path.stem, [], [], [])
    for t in range(frames):
        view, bar = view_at(t, frames, w, h), occluder_at(t, frames)
        shown = [(i, view.apply(box)) for i, box in enumerate(objects)]
        seq.gt.append([(i, clipped(box)) for i, box in shown if visible_fraction(box, bar) >= 0.5])
        seq.dets.append(detector.boxes(render(photo, view, bar)))
        seq.noisy.append(noisy_boxes(shown, classes, bar, rng))
    return seq


# ---- the trackers under test ----


def iou(a: BoxT, b: BoxT) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(slots=True)
class _Track:
    track_id: int
    class_id: int
    box: BoxT
    vx: float = 0.0
    vy: float = 0.0
    missed: int = 0


class GreedyIouTracker:
    """gateway/tracker.py as it was before the scene stage (greedy IoU + smoothed velocity), condensed."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 10, smoothing: float = 0.5) -> None:
        self.iou_threshold, self.max_missed, self.smoothing = iou_threshold, max_missed, smoothing
        self.tracks: list[_Track] = []
        self.next_id = 1

    def update(self, detections: Sequence[tuple[BoxT, int]]) -> list[int]:
        ids: list[int | None] = [None] * len(detections)
        pairs = []
        for ti, tr in enumerate(self.tracks):
            steps = tr.missed + 1
            dx, dy = tr.vx * steps, tr.vy * steps
            predicted = (tr.box[0] + dx, tr.box[1] + dy, tr.box[2] + dx, tr.box[3] + dy)
            for di, (box, class_id) in enumerate(detections):
                if class_id == tr.class_id:
                    pairs.append((iou(predicted, box), ti, di))
        pairs.sort(key=lambda p: p[0], reverse=True)
        matched: set[int] = set()
        for score, ti, di in pairs:
            if score < self.iou_threshold:
                break
            if ti in matched or ids[di] is not None:
                continue
            tr = self.tracks[ti]
            box, steps = detections[di][0], tr.missed + 1
            ocx, ocy = (tr.box[0] + tr.box[2]) / 2, (tr.box[1] + tr.box[3]) / 2
            ncx, ncy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            tr.vx = self.smoothing * tr.vx + (1 - self.smoothing) * (ncx - ocx) / steps
            tr.vy = self.smoothing * tr.vy + (1 - self.smoothing) * (ncy - ocy) / steps
            tr.box, tr.missed = box, 0
            ids[di] = tr.track_id
            matched.add(ti)
        kept = []
        for ti, tr in enumerate(self.tracks):
            if ti not in matched:
                tr.missed += 1
            if tr.missed <= self.max_missed:
                kept.append(tr)
        self.tracks = kept
        out = []
        for di, found in enumerate(ids):
            if found is None:
                self.tracks.append(_Track(self.next_id, detections[di][1], detections[di][0]))
                found = self.next_id
                self.next_id += 1
            out.append(found)
        return out


Tracked = list[tuple[int, BoxT]]  # per frame: (track id, pixel box)


def run_greedy(dets: list[list[Box]]) -> list[Tracked]:
    tracker = GreedyIouTracker()
    out = []
    for boxes in dets:
        shown = [b for b in boxes if b.score >= THRESHOLD]
        ids = tracker.update([((b.x1, b.y1, b.x2, b.y2), b.class_id) for b in shown])
        out.append([(i, _px(b)) for i, b in zip(ids, shown, strict=True)])
    return out


def run_bytetrack(dets: list[list[Box]]) -> list[Tracked]:
    defaults = SceneSettings()
    tracker = SceneTracker(TrackerParams(THRESHOLD, s_to_ns(defaults.track_lost_s), defaults.track_min_iou))
    out = []
    for t, boxes in enumerate(dets):
        ids = tracker.update(boxes, s_to_ns(t / FPS))
        out.append([(i, _px(b)) for i, b in zip(ids, boxes, strict=True) if i is not None and b.score >= THRESHOLD])
    return out


def _px(b: Box) -> BoxT:
    return (b.x1 * OUT_W, b.y1 * OUT_H, b.x2 * OUT_W, b.y2 * OUT_H)


# ---- scoring ----


def score(gt: list[Tracked], tracked: list[Tracked]) -> dict[str, Any]:
    """CLEAR + identity metrics of one sequence (IoU >= 0.5 is a match)."""
    gt_ids, tr_ids, sims = [], [], []
    for g, r in zip(gt, tracked, strict=True):
        gt_ids.append(np.array([i for i, _ in g], dtype=int))
        tr_ids.append(np.array([i for i, _ in r], dtype=int))
        gb = np.array([b for _, b in g], dtype=float).reshape(-1, 4)
        rb = np.array([b for _, b in r], dtype=float).reshape(-1, 4)
        sims.append(box_iou(gb, rb) if len(gb) and len(rb) else np.zeros((len(gb), len(rb))))
    return {**compute_clear_metrics(gt_ids, tr_ids, sims), **compute_identity_metrics(gt_ids, tr_ids, sims)}


def combined(per_sequence: list[dict[str, Any]]) -> dict[str, Any]:
    return {**aggregate_clear_metrics(per_sequence), **aggregate_identity_metrics(per_sequence)}


TRACKERS: dict[str, Callable[[list[list[Box]]], list[Tracked]]] = {
    "greedy IoU (old gateway)": run_greedy,
    "ByteTrack (trackers 2.6, scene stage)": run_bytetrack,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=120, help="frames per sequence")
    parser.add_argument("--photos", type=int, default=4, help="COCO photos (sequences), most objects first")
    parser.add_argument("--coco", type=Path, default=REPO.parent / "shared" / "data" / "coco")
    args = parser.parse_args()
    detector = Detector(WorkerSettings())
    paths = pick_photos(sorted(args.coco.glob("*.jpg")), args.photos, detector)
    sequences = [build_sequence(p, args.frames, detector) for p in paths]
    n_gt = sum(len(f) for s in sequences for f in s.gt)
    print(f"{len(sequences)} sequences x {args.frames} frames, {n_gt} ground-truth boxes")
    print("| boxes | tracker | ID switches | fragmentations | MOTA | IDF1 | ms/frame |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for boxes in ("detector", "noisy-gt"):
        for name, run in TRACKERS.items():
            inputs = [s.dets if boxes == "detector" else s.noisy for s in sequences]
            started = time.perf_counter()
            outputs = [run(d) for d in inputs]
            ms = (time.perf_counter() - started) * 1000 / sum(len(d) for d in inputs)
            t = combined([score(s.gt, o) for s, o in zip(sequences, outputs, strict=True)])
            print(f"| {boxes} | {name} | {t['IDSW']} | {t['Frag']} | {t['MOTA']:.3f} | {t['IDF1']:.3f} | {ms:.2f} |")


def pick_photos(paths: list[Path], n: int, detector: Detector) -> list[Path]:
    """The photos with the most confident objects (2..12 of them), so that there is something to confuse."""
    counted = []
    for path in paths:
        image = cv2.imread(str(path))
        if image is None:
            continue
        count = sum(b.score >= THRESHOLD for b in detector.boxes(image))
        if 2 <= count <= 12:
            counted.append((count, path.name, path))
    return [p for _, _, p in sorted(counted, reverse=True)[:n]]


if __name__ == "__main__":
    main()
