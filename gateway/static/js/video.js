// Camera video from the camera's owner over WebRTC, with each result drawn on
// the video frame it was computed from (DESIGN §9).
//
// The page offers to receive video and opens a "sync" data channel; the ingest
// instance that owns the camera answers (POST /stream/sessions/{id}/video) and
// sends on the channel one (RTP timestamp, capture time) pair. Its RTP clock
// counts 90 kHz ticks of capture time, so every displayed frame's capture time
// follows from its rtpTimestamp (requestVideoFrameCallback). SyncView then
// draws the result with that very capture time, or, between analysed frames,
// moves each tracked box along its track's velocity from the latest result.
// With "align" on, the receiver's jitter buffer holds the picture until its
// results have arrived (jitterBufferTarget), so boxes are exact, not predicted.
//
// When WebRTC cannot connect at all (ICE fails, UDP blocked, no answer) the
// controller falls back to the MJPEG preview and says why; once connected, a
// lost connection or a picture that stops (the owner died) reconnects, and the
// gateway then reaches the camera's new owner.

import { api, ApiError } from "./api.js";
import { drawOverlay } from "./overlay.js";
import { RateMeter, Rolling } from "./stats.js";

const GATHER_TIMEOUT_MS = 3000;
const CONNECT_TIMEOUT_MS = 12000;
const STALL_MS = 2500;
const MAX_BACKOFF_MS = 2000;
const EXACT_MS = 1;                // a result is "this frame's" within 1 ms of capture time (RTP ticks are 11 µs)
const MAX_PREDICT_MS = 600;        // boxes are moved along their track at most this far
const KEEP_RESULTS_MS = 6000;
const MAX_JITTER_TARGET_MS = 4000;
const MAX_DELAY_STEP_MS = 120;     // per adjustment (twice a second)

/** Capture time (ms since the epoch) of an RTP timestamp, from one (rtp, captured_at_ns) pair. */
export class RtpClock {
  constructor(rtp, capturedAtNs) {
    this.rtp = rtp >>> 0;
    this.capturedAtMs = capturedAtNs / 1e6;
  }
  captureMs(rtp) {
    let ticks = ((rtp >>> 0) - this.rtp) >>> 0;
    if (ticks >= 2 ** 31) ticks -= 2 ** 32;  // a frame before the pair
    return this.capturedAtMs + ticks / 90;
  }
}

function gatheringDone(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** The viewer's peer connection; frames reach `onFrame({captureMs, displayAtMs})`. */
export class CameraVideo {
  constructor(session, video, { onState, onMessage, onFallback, onFrame, align = false }) {
    Object.assign(this, { session, video, onState, onMessage, onFallback, onFrame, align });
    this.pc = null;
    this.clock = null;
    this.stopped = false;
    this.connectedOnce = false;
    this.attempt = 0;
    this.reconnects = 0;
    this.instance = null;
    this.lastFrameAt = 0;
    this.frameHandle = 0;
    this.fps = new RateMeter(3000);
    this.timer = null;
    this.watchdog = null;
  }

  async start() {
    if (typeof RTCPeerConnection === "undefined") return this.fallback("this browser has no WebRTC");
    const ice = await api.iceConfig(this.session).catch(() => ({ ice_servers: [] }));
    this.iceServers = ice.ice_servers;
    this.watchdog = setInterval(() => this.checkStall(), 500);
    this.grabFrames();
    await this.connect();
  }

  async connect() {
    this.closePeer();
    if (this.stopped) return;
    this.onState(this.connectedOnce ? "reconnecting" : "connecting");
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.clock = null;
    this.receiver = pc.addTransceiver("video", { direction: "recvonly" }).receiver;
    const channel = pc.createDataChannel("sync");
    channel.onmessage = (event) => this.onSync(event.data);
    pc.addEventListener("track", (event) => {
      this.video.srcObject = new MediaStream([event.track]);
      this.video.play().catch(() => {});
    });
    pc.addEventListener("connectionstatechange", () => this.onConnectionState(pc));
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringDone(pc);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onConnectTimeout(pc), CONNECT_TIMEOUT_MS);
    try {
      const answer = await api.video(this.session, pc.localDescription.sdp);
      if (pc !== this.pc) return;
      this.instance = answer.instance;
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    } catch (err) {
      if (pc !== this.pc || this.stopped) return;
      const retry = !(err instanceof ApiError) || err.code === "WEBRTC_UNAVAILABLE" || err.status >= 500;
      if (retry && (this.connectedOnce || this.attempt < 3)) this.scheduleReconnect();
      else this.fallback(`the camera's video is unavailable (${err.message})`);
    }
  }

  onSync(data) {
    try {
      const msg = JSON.parse(data);
      if (msg.type === "clock") this.clock = new RtpClock(msg.rtp, msg.captured_at_ns);
    } catch {
      // not ours: ignore
    }
  }

  onConnectionState(pc) {
    if (pc !== this.pc || this.stopped) return;
    const state = pc.connectionState;
    this.onState(state === "connected" ? "live" : state);
    if (state === "connected") {
      clearTimeout(this.timer);
      this.connectedOnce = true;
      this.attempt = 0;
      this.lastFrameAt = performance.now();
      this.onMessage(null);
    } else if (state === "failed") {
      if (this.connectedOnce) this.scheduleReconnect();
      else this.fallback("WebRTC could not connect (ICE failed; UDP may be blocked here)");
    }
  }

  onConnectTimeout(pc) {
    if (pc !== this.pc || this.stopped || pc.connectionState === "connected") return;
    if (this.connectedOnce) this.scheduleReconnect();
    else this.fallback("WebRTC did not connect in time (ICE never succeeded)");
  }

  /** Connected, but no picture for a while (the owner died without closing): reconnect to the new owner. */
  checkStall() {
    if (this.stopped || !this.connectedOnce || !this.pc || this.pc.connectionState !== "connected") return;
    if (performance.now() - this.lastFrameAt > STALL_MS) this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.closePeer();
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.attempt);
    this.attempt += 1;
    this.onState("reconnecting");
    this.timer = setTimeout(() => {
      this.reconnects += 1;
      this.connect().catch((err) => this.onMessage(`Video: ${err.message}`, "error"));
    }, delay);
  }

  fallback(why) {
    if (this.stopped) return;
    this.stop();
    this.onFallback(why);
  }

  grabFrames() {
    const next = (_now, meta) => {
      if (this.stopped) return;
      this.frameHandle = this.video.requestVideoFrameCallback(next);
      this.lastFrameAt = performance.now();
      this.fps.tick();
      const captureMs = this.clock && meta.rtpTimestamp != null ? this.clock.captureMs(meta.rtpTimestamp) : null;
      this.onFrame({ captureMs, displayAtMs: performance.timeOrigin + meta.expectedDisplayTime });
    };
    this.frameHandle = this.video.requestVideoFrameCallback(next);
  }

  /** Hold the picture this long in the jitter buffer (align mode: until its results are in). */
  setDelay(ms) {
    if (this.receiver && "jitterBufferTarget" in this.receiver) {
      this.receiver.jitterBufferTarget = Math.max(0, Math.min(MAX_JITTER_TARGET_MS, Math.round(ms)));
    }
  }

  async framesDecoded() {
    if (!this.pc) return 0;
    const stats = await this.pc.getStats();
    for (const s of stats.values()) if (s.type === "inbound-rtp" && s.kind === "video") return s.framesDecoded || 0;
    return 0;
  }

  closePeer() {
    if (this.pc) this.pc.close();
    this.pc = null;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    this.video.cancelVideoFrameCallback?.(this.frameHandle);
    this.closePeer();
    this.video.srcObject = null;
  }
}

/** Boxes on the displayed frame: the result of that frame, or the latest one moved along each track. */
export class SyncView {
  constructor(video, overlay, { align = false } = {}) {
    Object.assign(this, { video, overlay, align });
    this.results = [];           // [{tMs, result}] by capture time
    this.frame = null;           // {captureMs, displayAtMs} of the frame on screen
    this.drawnResult = null;
    this.resultDelay = new Rolling(100);   // result arrival - capture, ms
    this.videoDelay = new Rolling(100);    // frame display - capture, ms
    this.link = null;            // the CameraVideo (for align delays)
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
    return { ...d, bbox: d.bbox.map((v, i) => v + (next[i] - v) * f) };
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
    const bbox = d.bbox.map((v, i) => v + ((v - old[i]) / span) * dt);
    return { ...d, bbox };
  });
}
