"""Detector output decoders (pure numpy) and class-wise NMS.

Three output layouts cover the detectors users bring:
- YOLOX `[1, N, 5+C]`: raw grid predictions (MODELS.md): centre offsets per
  cell, log-size, sigmoid-ed objectness and class scores;
- Ultralytics YOLOv8/YOLO11 `[1, 4+C, N]`: decoded `cx, cy, w, h` in input
  pixels, class scores, no objectness;
- YOLOv5 `[1, N, 5+C]`: decoded boxes, objectness times class score.
Each decoder keeps only rows whose best class reaches the threshold, before any
box arithmetic, so the cost follows the number of candidates, not grid cells:
YOLOX and YOLOv5 first drop rows by objectness alone (a strided scan of one
column; a class score never exceeds 1), YOLOv8 reduces over classes in the
output's own (C, N) layout; only the few survivors see (K, C) arithmetic.
NMS is OpenCV's batched (class-wise) NMS rather than a hand-written loop.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from shared import boxes
from shared.boxes import Box
from workers.preprocess import Geometry

YOLOX_STRIDES = (8, 16, 32)


@dataclass(frozen=True, slots=True)
class Candidates:
    """The decoders' rows before NMS, as arrays (not yet boxes): centres and sizes in model-input
    pixels (`cx, cy, w, h`), one best class each. `to_boxes` turns the survivors into `Box`es."""

    cxcywh: np.ndarray  # (K, 4) float32
    score: np.ndarray  # (K,) float32
    class_id: np.ndarray  # (K,) int32

    def __len__(self) -> int:
        return len(self.score)

    def take(self, keep: np.ndarray) -> Candidates:
        return Candidates(self.cxcywh[keep], self.score[keep], self.class_id[keep])


def _best_rows(
    class_scores: np.ndarray, rows: np.ndarray, threshold: float, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of the candidate `rows` of `class_scores` (N, C), those whose best class score (times `weight`,
    the objectness, when given) reaches the threshold: (rows, scores, classes)."""
    scores = class_scores[rows]
    class_id = scores.argmax(axis=1)
    score = scores[np.arange(len(rows)), class_id]
    if weight is not None:
        score = score * weight[rows]
    keep = score >= threshold
    return rows[keep], score[keep].astype(np.float32), class_id[keep].astype(np.int32)


def _objectness_rows(preds: np.ndarray, threshold: float) -> np.ndarray:
    """Rows that can reach the threshold at all. Class scores are sigmoid-ed (<= 1), so
    objectness x class score <= objectness: one strided column scan drops nearly every row
    before any (N, C) arithmetic."""
    return np.flatnonzero(preds[:, 4] >= threshold)


@functools.cache
def yolox_grid(width: int, height: int, strides: tuple[int, ...] = YOLOX_STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Cell origins (N, 2) and strides (N, 1) in YOLOX's row order (stride by stride, row-major)."""
    cells, sizes = [], []
    for s in strides:
        gy, gx = np.meshgrid(np.arange(height // s), np.arange(width // s), indexing="ij")
        cells.append(np.stack((gx, gy), axis=-1).reshape(-1, 2))
        sizes.append(np.full((cells[-1].shape[0], 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(sizes).astype(np.float32)


def decode_yolox(output: np.ndarray, in_w: int, in_h: int, threshold: float) -> Candidates:
    preds = output.reshape(-1, output.shape[-1])
    grid, stride = yolox_grid(in_w, in_h)
    if len(preds) != len(grid):
        raise ValueError(f"YOLOX output has {len(preds)} rows, expected {len(grid)} for {in_w}x{in_h}")
    rows, score, class_id = _best_rows(preds[:, 5:], _objectness_rows(preds, threshold), threshold, preds[:, 4])
    p, g, s = preds[rows], grid[rows], stride[rows]
    with np.errstate(over="ignore"):
        wh = np.exp(p[:, 2:4]) * s
    cxcywh = np.concatenate(((p[:, :2] + g) * s, wh), axis=1).astype(np.float32)
    return Candidates(cxcywh, score, class_id)


def decode_yolov8(output: np.ndarray, threshold: float) -> Candidates:
    preds = output.reshape(output.shape[-2], output.shape[-1])  # (4+C, N): one column per anchor
    # Reduce over the class axis in the output's own layout (contiguous rows of N), not on a
    # transposed view: the max over 80 rows of 8400 vectorises; an argmax per strided row does not.
    rows = np.flatnonzero(preds[4:].max(axis=0) >= threshold)
    cols = preds[:, rows].T  # (K, 4+C), only the candidates
    kept, score, class_id = _best_rows(cols[:, 4:], np.arange(len(rows)), threshold)
    return Candidates(np.ascontiguousarray(cols[kept, :4], dtype=np.float32), score, class_id)


def decode_yolov5(output: np.ndarray, threshold: float) -> Candidates:
    preds = output.reshape(-1, output.shape[-1])  # (N, 5+C)
    rows, score, class_id = _best_rows(preds[:, 5:], _objectness_rows(preds, threshold), threshold, preds[:, 4])
    return Candidates(preds[rows, :4].astype(np.float32), score, class_id)


def nms(c: Candidates, iou: float, max_detections: int) -> Candidates:
    """Class-wise non-maximum suppression; survivors sorted by score, at most `max_detections`."""
    if len(c) == 0:
        return c
    xywh = c.cxcywh.copy()
    xywh[:, :2] -= xywh[:, 2:] / 2
    picked = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), c.score.tolist(), c.class_id.tolist(), 0.0, iou, top_k=max_detections
    )
    keep = np.asarray(picked, dtype=np.int64).reshape(-1)
    order = keep[np.argsort(-c.score[keep], kind="stable")][:max_detections]
    return c.take(order)


def to_boxes(c: Candidates, geometry: Geometry, labels: Sequence[str]) -> list[Box]:
    """Candidates in model pixels -> boxes normalised to 0..1 of the frame, clipped, empty ones dropped."""
    half = c.cxcywh[:, 2:] / 2
    xyxy = np.concatenate((c.cxcywh[:, :2] - half, c.cxcywh[:, :2] + half), axis=1)
    xyxy[:, 0::2] = (xyxy[:, 0::2] - geometry.pad_x) / (geometry.ratio_x * geometry.width)
    xyxy[:, 1::2] = (xyxy[:, 1::2] - geometry.pad_y) / (geometry.ratio_y * geometry.height)
    return boxes.from_arrays(np.clip(np.nan_to_num(xyxy), 0.0, 1.0), c.score, c.class_id, labels)
