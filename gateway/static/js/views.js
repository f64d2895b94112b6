// What the stage shows, redrawn on every animation frame.
// - LiveView: the <video> plays live (webcam, video file) and the overlay shows
//   the newest result; the boxes trail the picture by the pipeline latency,
//   which the stats panel shows.
// - AlignedView: frames wait in an AlignedPlayer for their own result and are
//   painted on a canvas together with it (MJPEG preview of camera sources, or
//   the webcam/file when "align" is on): exact boxes, delayed picture.
// Both report, for each result drawn the first time, the glass-to-overlay
// latency: wall time now minus the frame's capture time.

import { containRect, drawOverlay, fitCanvas } from "./overlay.js";
import { AlignedPlayer } from "./player.js";

export class LiveView {
  constructor(video, overlay) {
    this.video = video;
    this.overlay = overlay;
    this.result = null;
    this.drawnResult = null;
  }
  addResult(result) {
    this.result = result;
  }
  addFrame(frame) {
    frame.bitmap?.close?.();  // live video needs no held frames
  }
  /** Draw; returns {boxes, result, latencyMs (first draw of a result), lagMs}. */
  draw() {
    const { result } = this;
    const boxes = drawOverlay(this.overlay, result, this.video.videoWidth, this.video.videoHeight);
    const lagMs = result ? Date.now() - result.timestamp * 1000 : null;
    const first = result && result !== this.drawnResult;
    this.drawnResult = result;
    return { boxes, result, stale: false, latencyMs: first ? lagMs : null, lagMs, lagKind: "Boxes behind picture" };
  }
  dropped() {
    return 0;
  }
  clear() {}
}

export class AlignedView {
  constructor(picture, overlay, options) {
    this.picture = picture;
    this.overlay = overlay;
    this.player = new AlignedPlayer(options);
    this.shown = null;
  }
  addResult(result) {
    this.player.addResult(result);
  }
  addFrame(frame) {
    this.player.addFrame(frame);
  }
  draw() {
    const picked = this.player.pick();
    if (picked) this.shown = picked;
    const shown = this.shown;
    if (!shown) return { boxes: drawOverlay(this.overlay, null), result: null, latencyMs: null, lagMs: null };
    const { bitmap, capturedAtMs } = shown.frame;
    this.paint(bitmap);
    const boxes = drawOverlay(this.overlay, shown.result, bitmap.width, bitmap.height, { stale: shown.stale });
    const lagMs = Date.now() - capturedAtMs;
    const latencyMs = picked?.fresh && shown.result && !shown.stale ? lagMs : null;
    const frameSeq = shown.frame.seq;
    return { boxes, result: shown.result, stale: shown.stale, latencyMs, lagMs, frameSeq, lagKind: "Picture delay (boxes exact)" };
  }
  paint(bitmap) {
    fitCanvas(this.picture);
    const ctx = this.picture.getContext("2d");
    const r = containRect(this.picture.width, this.picture.height, bitmap.width, bitmap.height);
    ctx.clearRect(0, 0, this.picture.width, this.picture.height);
    ctx.drawImage(bitmap, r.x, r.y, r.w, r.h);
  }
  dropped() {
    return this.player.superseded;
  }
  matchGaps() {
    return this.player.gaps;
  }
  clear() {
    this.player.clear();
    this.shown = null;
  }
}

export const canGrabVideoFrames = () => "requestVideoFrameCallback" in HTMLVideoElement.prototype;

/** Feed a playing <video>'s frames, stamped with their capture time, to `onFrame` (for aligned webcam). */
export function grabVideoFrames(video, onFrame) {
  let stopped = false;
  let handle = 0;
  const grab = async (_now, meta) => {
    if (stopped) return;
    handle = video.requestVideoFrameCallback(grab);
    const capturedAtMs = meta.captureTime ? performance.timeOrigin + meta.captureTime : Date.now();
    const bitmap = await createImageBitmap(video).catch(() => null);
    if (bitmap && !stopped) onFrame({ seq: NaN, capturedAtMs, bitmap });
    else bitmap?.close();
  };
  handle = video.requestVideoFrameCallback(grab);
  return () => {
    stopped = true;
    video.cancelVideoFrameCallback(handle);
  };
}
