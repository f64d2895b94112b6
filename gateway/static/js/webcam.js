// Source "webcam": this browser's camera -> the pipeline over WebRTC. The page
// is the offerer and sends video only; one ingest instance answers through the
// gateway (peer.js). When ICE fails, or stays disconnected, the link rebuilds
// the peer connection with backoff; the camera stream is kept.

import { api } from "./api.js";
import { PeerLink } from "./peer.js";
import { canGrabVideoFrames, grabVideoFrames } from "./views.js";

const DISCONNECT_GRACE_MS = 4000;
const MAX_BACKOFF_MS = 10000;

/** getUserMedia with a message a person can act on when it fails. */
async function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error("This browser cannot open a camera here (it needs https or localhost).");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
      audio: false,
    });
  } catch (err) {
    if (err.name === "NotAllowedError" || err.name === "SecurityError") {
      throw new Error("Camera access was denied. Allow the camera for this site and press Start again.");
    }
    if (err.name === "NotFoundError" || err.name === "OverconstrainedError") {
      throw new Error("No camera was found on this device.");
    }
    if (err.name === "NotReadableError") throw new Error("The camera is in use by another application.");
    throw new Error(`Cannot open the camera: ${err.message || err.name}`);
  }
}

/** This browser's camera over WebRTC to one ingest instance; the camera stream outlives reconnects. */
class WebcamLink extends PeerLink {
  constructor(session, stream, callbacks) {
    super(session, callbacks, { name: "WebRTC", firstMs: 500, maxMs: MAX_BACKOFF_MS, closeWhileWaiting: false });
    this.stream = stream;
    this.sender = null;
  }

  async start() {
    if (typeof RTCPeerConnection === "undefined") {
      throw new Error("WebRTC is not available in this browser: use a camera URL or a file instead.");
    }
    const ice = await api.iceConfig(this.session);
    this.iceServers = ice.ice_servers;
    await this.connect();
  }

  addMedia(pc) {
    const [track] = this.stream.getVideoTracks();
    this.sender = pc.addTransceiver(track, { direction: "sendonly", streams: [this.stream] }).sender;
  }

  sendOffer(sdp) {
    return api.offer(this.session, sdp);
  }

  async acceptAnswer(pc, answer) {
    await super.acceptAnswer(pc, answer);
    await this.preferResolution(this.sender);
  }

  offerFailed(err, retry) {
    this.onMessage(`WebRTC: ${err.message}${retry ? " (retrying)" : ""}`, "error");
    if (retry) this.scheduleReconnect();
    else this.onState("error");
  }

  /** Detection wants detail: keep the resolution and lower the frame rate under load. */
  async preferResolution(sender) {
    const params = sender.getParameters();
    params.degradationPreference = "maintain-resolution";
    if (params.encodings?.[0]) params.encodings[0].maxBitrate = 2_500_000;
    await sender.setParameters(params).catch(() => {});
  }

  onPeerState(state) {
    this.onState(state === "connected" ? "live" : state);
    clearTimeout(this.timer);
    if (state === "connected") {
      this.attempt = 0;
      this.onMessage(null);
    } else if (state === "failed") {
      this.onMessage("WebRTC connection failed; reconnecting…", "error");
      this.scheduleReconnect();
    } else if (state === "disconnected") {
      this.timer = setTimeout(() => this.scheduleReconnect(), DISCONNECT_GRACE_MS);
    }
  }
}

/** The webcam source: open the camera, then a `webrtc` session, and show the camera live (or aligned). */
class WebcamSource {
  constructor() {
    this.stream = null;
    this.link = null;
    this.stopGrab = () => {};
  }

  async start(ctx) {
    this.stream = await openCamera();  // before the session: a denied camera leaves nothing behind
    const session = await ctx.openSession({ type: "webrtc" });
    const { stage } = ctx;
    stage.video.srcObject = this.stream;
    // Aligning needs each camera frame's capture time (requestVideoFrameCallback; Firefox only since 132).
    const align = ctx.align && canGrabVideoFrames();
    if (ctx.align && !align) ctx.onMessage("This browser cannot align the camera picture: shown live.", "info");
    // When aligned, the live video stays rendered under the canvas: a hidden video presents no frames to grab.
    stage.show({ video: true, picture: align });
    const view = stage.useView(align ? "aligned" : "live", { toleranceMs: 40 });
    if (align) this.stopGrab = grabVideoFrames(stage.video, (f) => view.addFrame(f));
    this.link = new WebcamLink(session, this.stream, ctx);
    await this.link.start();
  }

  /** The camera sends at its own rate; the session's analysis rate samples it at ingest. */
  setFps(_analysisFps) {}

  refresh() {}

  stats() {
    return { skipped: 0, reconnects: this.link?.reconnects };
  }

  stop() {
    this.stopGrab();
    this.link?.stop();
    this.stream?.getTracks().forEach((t) => t.stop());
  }
}

export const source = {
  kind: "webcam",
  label: "This browser's camera",
  create: () => new WebcamSource(),
};
