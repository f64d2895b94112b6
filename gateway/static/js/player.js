// Shows each frame together with the result computed from it. Frames (from the
// MJPEG preview, or grabbed from the local camera) wait here until their result
// arrives, matched by seq, or by capture time when the frame has no seq. A frame
// whose result does not come within `holdMs` (the per-client FPS skipped it) is
// shown anyway with the newest older result, marked stale. The picture is thus
// delayed by the pipeline's latency, and in exchange the boxes sit exactly on
// the objects they were computed from.

export class AlignedPlayer {
  constructor({ holdMs = 600, maxFrames = 60, toleranceMs = 25 } = {}) {
    this.holdMs = holdMs;
    this.maxFrames = maxFrames;
    this.toleranceMs = toleranceMs;
    this.frames = [];        // {seq, capturedAtMs, bitmap, arrivedAt, result}
    this.lastResult = null;  // newest result attached to a frame
    this.current = null;
    this.pending = [];       // results that came before their frame
    this.gaps = [];          // |frame capture - result capture| of time matches, ms (the capture clocks' agreement)
    this.superseded = 0;     // frames never shown (a newer one was ready first)
  }

  addFrame(frame) {
    const held = { ...frame, arrivedAt: performance.now(), result: null };
    const early = this.pending.findIndex((r) => this.matches(held, r));
    if (early >= 0) held.result = this.pending.splice(early, 1)[0];
    this.frames.push(held);
    while (this.frames.length > this.maxFrames) this.release(this.frames.shift());
  }

  /** Attach a result to its frame (held, or already on screen), else keep it for a frame still to come. */
  addResult(result) {
    const target = this.closest(this.frames, result);
    if (target) {
      target.result = result;
    } else if (this.current && this.matches(this.current.frame, result)) {
      this.current.frame.result = result;  // shown stale while waiting: show it again, now with its boxes
      this.frames.unshift(this.current.frame);
      this.current = null;
    } else {
      this.pending.push(result);
      if (this.pending.length > 30) this.pending.shift();
    }
  }

  matches(frame, result) {
    if (Number.isFinite(frame.seq)) return frame.seq === result.seq;
    return Math.abs(frame.capturedAtMs - result.timestamp * 1000) <= this.toleranceMs;
  }

  /** The matching frame; by capture time, the nearest one (camera frames can be closer than the tolerance). */
  closest(frames, result) {
    let best = null;
    for (const f of frames) {
      if (!this.matches(f, result)) continue;
      const gap = Math.abs(f.capturedAtMs - result.timestamp * 1000);
      if (!best || gap < best.gap) best = { frame: f, gap };
    }
    if (best && !Number.isFinite(best.frame.seq)) {
      this.gaps.push(best.gap);
      if (this.gaps.length > 200) this.gaps.shift();
    }
    return best?.frame ?? null;
  }

  /** The frame to show now: {frame, result, stale, fresh} (fresh: first time shown) or the current one. */
  pick(now = performance.now()) {
    let chosen = -1;
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const f = this.frames[i];
      if (f.result || now - f.arrivedAt >= this.holdMs) {
        chosen = i;
        break;
      }
    }
    if (chosen < 0) return this.current && { ...this.current, fresh: false };
    const frame = this.frames[chosen];
    for (const older of this.frames.splice(0, chosen + 1)) if (older !== frame) this.drop(older);
    if (this.current) this.release(this.current.frame);
    const stale = !frame.result;
    if (frame.result) this.lastResult = frame.result;
    this.current = { frame, result: frame.result || this.lastResult, stale };
    return { ...this.current, fresh: true };
  }

  drop(frame) {
    this.superseded += 1;
    this.release(frame);
  }

  release(frame) {
    frame?.bitmap?.close?.();
  }

  clear() {
    for (const f of this.frames) this.release(f);
    if (this.current) this.release(this.current.frame);
    this.frames = [];
    this.current = null;
  }
}
