// Camera video from the camera's owner over WebRTC, with each result drawn on
// the video frame it was computed from (DESIGN §9).
//
// The page offers to receive video and opens a "sync" data channel; the ingest
// instance that owns the camera answers (POST /stream/sessions/{id}/video) and
// sends on the channel one (RTP timestamp, capture time) pair. Its RTP clock
// counts 90 kHz ticks of capture time, so every displayed frame's capture time
// follows from its rtpTimestamp (requestVideoFrameCallback). SyncView
// (syncview.js) then draws the result with that very capture time, or, between
// analysed frames, moves each tracked box along its track's velocity.
// With "align" on, the receiver's jitter buffer holds the picture until its
// results have arrived (jitterBufferTarget), so boxes are exact, not predicted.
//
// When WebRTC cannot connect at all (ICE fails, UDP blocked, no answer) the
// source hands over to the MJPEG preview (camera.js) and says why; once
// connected, a lost connection or a picture that stops (the owner died)
// reconnects, and the gateway then reaches the camera's new owner.

import { api } from "./api.js";
import { PeerLink } from "./peer.js";
import { RateMeter } from "./stats.js";
import { SyncView } from "./syncview.js";

const CONNECT_TIMEOUT_MS = 12000;
const STALL_MS = 2500;
const MAX_BACKOFF_MS = 2000;
const MAX_JITTER_TARGET_MS = 4000;
const ADJUST_DELAY_MS = 500;

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

/** The viewer's peer connection; frames reach `onFrame({captureMs, displayAtMs})`. */
class CameraVideo extends PeerLink {
  constructor(session, video, { onState, onMessage, onFallback, onFrame }) {
    super(session, { onState, onMessage }, { name: "Video", firstMs: 250, maxMs: MAX_BACKOFF_MS, closeWhileWaiting: true });
    Object.assign(this, { video, onFallback, onFrame });
    this.clock = null;
    this.receiver = null;
    this.connectedOnce = false;
    this.instance = null;
    this.lastFrameAt = 0;
    this.frameHandle = 0;
    this.fps = new RateMeter(3000);
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

  connectingState() {
    return this.connectedOnce ? "reconnecting" : "connecting";
  }

  addMedia(pc) {
    this.clock = null;
    this.receiver = pc.addTransceiver("video", { direction: "recvonly" }).receiver;
    const channel = pc.createDataChannel("sync");
    channel.onmessage = (event) => this.onSync(event.data);
    pc.addEventListener("track", (event) => {
      this.video.srcObject = new MediaStream([event.track]);
      this.video.play().catch(() => {});
    });
  }

  awaitingAnswer(pc) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onConnectTimeout(pc), CONNECT_TIMEOUT_MS);
  }

  sendOffer(sdp) {
    return api.video(this.session, sdp);
  }

  async acceptAnswer(pc, answer) {
    this.instance = answer.instance;
    await super.acceptAnswer(pc, answer);
  }

  offerFailed(err, retry) {
    if (retry && (this.connectedOnce || this.attempt < 3)) this.scheduleReconnect();
    else this.fallback(`the camera's video is unavailable (${err.message})`);
  }

  onSync(data) {
    try {
      const msg = JSON.parse(data);
      if (msg.type === "clock") this.clock = new RtpClock(msg.rtp, msg.captured_at_ns);
    } catch {
      // not ours: ignore
    }
  }

  onPeerState(state) {
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

  stop() {
    super.stop();
    clearInterval(this.watchdog);
    this.video.cancelVideoFrameCallback?.(this.frameHandle);
    this.video.srcObject = null;
  }
}

/**
 * The live video of a camera session as a source (inside camera.js): `onFallback(why)` when WebRTC
 * cannot connect at all. Its stats carry `video` (`videoStats`), mirrored as `window.sightwire.video`.
 */
export class CameraVideoSource {
  constructor({ onFallback }) {
    this.onFallback = onFallback;
    this.link = null;
    this.view = null;
    this.tuner = null;
    this.videoStats = { instance: null, fps: 0, reconnects: 0, fallback: null, delays: [], exact: 0, predicted: 0 };
  }

  async start(ctx) {
    const { stage } = ctx;
    stage.show({ video: true, picture: false });
    const view = stage.setView("video", new SyncView(stage.video, stage.overlay, { align: ctx.align }));
    this.view = view;
    this.link = new CameraVideo(ctx.session, stage.video, {
      onState: ctx.onState,
      onMessage: ctx.onMessage,
      onFrame: (f) => this.onFrame(f),
      onFallback: (why) => {
        clearInterval(this.tuner);
        this.videoStats.fallback = why;
        this.onFallback(why);
      },
    });
    view.link = this.link;
    this.tuner = setInterval(() => view.adjustDelay(), ADJUST_DELAY_MS);
    await this.link.start();
  }

  onFrame(frame) {
    this.view.addFrame(frame);
    const { delays } = this.videoStats;
    if (frame.captureMs != null) delays.push(Math.round(frame.displayAtMs - frame.captureMs));
    if (delays.length > 2000) delays.shift();
  }

  /** The camera sends at its own rate; the session's analysis rate applies at ingest. */
  setFps(_analysisFps) {}

  refresh() {}

  stats() {
    const { link, view, videoStats: video } = this;
    if (!link) return { skipped: 0, video };
    Object.assign(video, { instance: link.instance, fps: link.fps.rate(), reconnects: link.reconnects });
    Object.assign(video, { exact: view.exactDraws, predicted: view.predictedDraws, knownShare: view.knownShare() });
    video.delayMs = link.receiver?.jitterBufferTarget ?? null;   // align mode's added delay (null: not supported)
    return { skipped: 0, reconnects: link.reconnects, video };
  }

  framesDecoded() {
    return this.link ? this.link.framesDecoded() : Promise.resolve(0);
  }

  stop() {
    clearInterval(this.tuner);
    this.link?.stop();
  }
}
