// Boxes on a live camera video (video.js): each displayed frame is drawn with
// the result of its own capture time when that result is in; between analysed
// frames, each tracked box is placed between its track's two positions, or
// moved along its track's velocity from the latest result (predicted).

import { lerpBox } from "./box.js";
import { drawOverlay } from "./overlay.js";
import { Rolling } from "./stats.js";

const EXACT_MS = 1;                // a result is "this frame's" within 1 ms of capture time (RTP ticks are 11 µs)
const MAX_PREDICT_MS = 600;        // boxes are moved along their track at most this far
const KEEP_RESULTS_MS = 6000;
const MAX_DELAY_STEP_MS = 120;     // per adjustment (twice a second)

/** Boxes on the displayed frame: the result of that frame, or the latest one moved along each track. */
export class SyncView {
  constructor(video, overlay, { align = false } = {}) {
    Object.assign(this, { video, overlay, align });
    this.results = [];           // [{tMs, result}] by capture time
    this.frame = null;           // {captureMs, displayAtMs} of the frame on screen
    this.drawnResult = null;
    this.resultDelay = new Rolling(100);   // result arrival - capture, ms
    this.videoDelay = new Rolling(100);    // frame display - capture, ms
    this.link = null;            // the camera video link (for align delays)
    this.exactDraws = 0;
    this.known = [];             // per recent video frame: its own result, or results on both sides, was in
    this.countedFrame = null;
    this.predictedDraws = 0;
  }
  addResult(result) {
    const tMs = result.timestamp * 1000;
    this.resultDelay.add(Date.now() - tMs);
    const list = this.results;
    let i = list.length;
    while (i > 0 && list[i - 1].tMs > tMs) i -= 1;
    list.splice(i, 0, { tMs, result });
    while (list.length && list[list.length - 1].tMs - list[0].tMs > KEEP_RESULTS_MS) list.shift();
  }
  addFrame(frame) {
    this.frame = frame;
    if (frame.captureMs != null) this.videoDelay.add(frame.displayAtMs - frame.captureMs);
  }
  /** Share of the recent video frames drawn from their own result or between two results (not predicted). */
  knownShare() {
    return this.known.length ? this.known.filter(Boolean).length / this.known.length : 0;
  }
  /** Align mode: a jitter buffer long enough for results to arrive before their frame is shown.
   * It grows quickly when results come later than the picture and shrinks slowly (result delay is spiky). */
  adjustDelay() {
    if (!this.align || !this.link) return;
    const results = this.resultDelay.percentile(98);
    const video = this.videoDelay.percentile(50);
    if (results == null || video == null) return;
    const current = this.link.receiver?.jitterBufferTarget || 0;
    const error = results + 100 - video;
    // Growing the buffer pauses decoding while it fills: in steps, so the picture slows down rather than freezes.
    this.link.setDelay(current + (error > 0 ? Math.min(error, MAX_DELAY_STEP_MS) : error * 0.1));
  }
  pick(T) {
    const list = this.results;
    let after = list.length;
    while (after > 0 && list[after - 1].tMs > T + EXACT_MS) after -= 1;
    const r1 = list[after - 1];
    const r2 = list[after];
    if (r1 && Math.abs(r1.tMs - T) <= EXACT_MS) {
      return { entry: r1, exact: true, known: true, detections: r1.result.detections };
    }
    if (!r1) return r2 ? { entry: r2, exact: false, detections: r2.result.detections } : null;
    // Both neighbours known (align mode holds the picture until results are in): each box is placed between
    // its track's two positions; a box without a partner (a new or lost track) comes from the nearer result.
    if (r2) return { ...interpolate(r1, r2, T), known: true };
    return { entry: r1, exact: false, detections: predict(r1, list[after - 2], T) };
  }
  draw() {
    const T = this.frame?.captureMs;
    const picked = T == null ? this.latest() : this.pick(T);
    if (!picked) return { boxes: drawOverlay(this.overlay, null), result: null, latencyMs: null, lagMs: null };
    const { entry, exact, detections } = picked;
    if (T != null && this.frame !== this.countedFrame) {
      this.countedFrame = this.frame;
      this.known.push(Boolean(picked.known));
      if (this.known.length > 50) this.known.shift();
    }
    const shown = { ...entry.result, detections };
    const boxes = drawOverlay(this.overlay, shown, this.video.videoWidth, this.video.videoHeight);
    const first = entry.result !== this.drawnResult;
    this.drawnResult = entry.result;
    if (exact) this.exactDraws += 1;
    else this.predictedDraws += 1;
    const lagMs = T == null ? Date.now() - entry.tMs : T - entry.tMs;
    return {
      boxes,
      result: entry.result,
      stale: !exact,
      latencyMs: first ? Date.now() - entry.tMs : null,
      lagMs,
      lagKind: "Boxes behind picture",
      frameCaptureMs: T ?? null,
      resultCaptureMs: entry.tMs,
    };
  }
  latest() {
    const last = this.results[this.results.length - 1];
    return last ? { entry: last, exact: false, detections: last.result.detections } : null;
  }
  dropped() {
    return 0;
  }
  clear() {
    this.results = [];
    this.frame = null;
  }
}

/** Between two results: boxes of tracks seen in both move linearly; the rest come from the nearer result. */
export function interpolate(r1, r2, T) {
  const nearer = T - r1.tMs <= r2.tMs - T ? r1 : r2;
  const f = (T - r1.tMs) / (r2.tMs - r1.tMs);
  const later = new Map(r2.result.detections.filter((d) => d.track_id != null).map((d) => [d.track_id, d.bbox]));
  const earlier = new Set(r1.result.detections.map((d) => d.track_id));
  const both = nearer.result.detections.filter((d) => d.track_id != null && earlier.has(d.track_id) && later.has(d.track_id));
  if (both.length !== nearer.result.detections.length) return { entry: nearer, exact: false, detections: nearer.result.detections };
  const moved = r1.result.detections.map((d) => {
    const next = later.get(d.track_id);
    return { ...d, bbox: lerpBox(d.bbox, next, f) };
  });
  return { entry: nearer, exact: false, detections: moved };
}

/** The detections of `r1` moved to time T along the velocity of their track between r0 and r1. */
export function predict(r1, r0, T) {
  const dt = Math.min(T - r1.tMs, MAX_PREDICT_MS);
  if (!r0 || dt <= 0 || r1.tMs - r0.tMs <= 0 || r1.tMs - r0.tMs > 1000) return r1.result.detections;
  const before = new Map(r0.result.detections.filter((d) => d.track_id != null).map((d) => [d.track_id, d.bbox]));
  const span = r1.tMs - r0.tMs;
  return r1.result.detections.map((d) => {
    const old = d.track_id != null && before.get(d.track_id);
    if (!old) return d;
    return { ...d, bbox: lerpBox(old, d.bbox, 1 + dt / span) };
  });
}
