// This browser's camera -> the pipeline over WebRTC. The page is the offerer
// and sends video only; one ingest instance answers through the gateway. The
// offer goes out after ICE gathering completes (no trickle: signalling is one
// HTTP request). When ICE fails, or stays disconnected, the link rebuilds
// the peer connection with backoff; the camera stream is kept.

import { api, ApiError } from "./api.js";

const GATHER_TIMEOUT_MS = 3000;
const DISCONNECT_GRACE_MS = 4000;
const MAX_BACKOFF_MS = 10000;

/** getUserMedia with a message a person can act on when it fails. */
export async function openCamera() {
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

export class WebcamLink {
  constructor(session, stream, { onState, onMessage }) {
    this.session = session;
    this.stream = stream;
    this.onState = onState;
    this.onMessage = onMessage;
    this.pc = null;
    this.stopped = false;
    this.attempt = 0;
    this.reconnects = 0;
    this.timer = null;
  }

  async start() {
    if (typeof RTCPeerConnection === "undefined") {
      throw new Error("WebRTC is not available in this browser: use a camera URL or a file instead.");
    }
    const ice = await api.iceConfig(this.session);
    this.iceServers = ice.ice_servers;
    await this.connect();
  }

  async connect() {
    this.closePeer();
    this.onState("connecting");
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    const [track] = this.stream.getVideoTracks();
    const { sender } = pc.addTransceiver(track, { direction: "sendonly", streams: [this.stream] });
    pc.addEventListener("connectionstatechange", () => this.onConnectionState(pc));
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringDone(pc);
    try {
      const answer = await api.offer(this.session, pc.localDescription.sdp);
      if (pc !== this.pc) return;
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      await this.preferResolution(sender);
    } catch (err) {
      if (pc !== this.pc || this.stopped) return;
      const retry = !(err instanceof ApiError) || err.code === "WEBRTC_UNAVAILABLE" || err.status >= 500;
      this.onMessage(`WebRTC: ${err.message}${retry ? " (retrying)" : ""}`, "error");
      if (retry) this.scheduleReconnect();
      else this.onState("error");
    }
  }

  /** Detection wants detail: keep the resolution and lower the frame rate under load. */
  async preferResolution(sender) {
    const params = sender.getParameters();
    params.degradationPreference = "maintain-resolution";
    if (params.encodings?.[0]) params.encodings[0].maxBitrate = 2_500_000;
    await sender.setParameters(params).catch(() => {});
  }

  onConnectionState(pc) {
    if (pc !== this.pc || this.stopped) return;
    const state = pc.connectionState;
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

  scheduleReconnect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.onState("reconnecting");
    this.timer = setTimeout(() => {
      this.reconnects += 1;
      this.connect().catch((err) => this.onMessage(`WebRTC: ${err.message}`, "error"));
    }, delay);
  }

  closePeer() {
    if (this.pc) this.pc.close();
    this.pc = null;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.closePeer();
  }
}
