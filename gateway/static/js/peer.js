// The page's half of a WebRTC link with the pipeline, shared by the webcam
// (the page sends video: webcam.js) and the camera video (the page receives
// it: video.js). The page is always the offerer; the gateway relays the offer
// to one ingest instance and returns its answer. The offer goes out after ICE
// gathering completes (no trickle: signalling is one HTTP request). A link
// subclass adds its media, sends the offer to its endpoint and decides what a
// connection state means; this class owns the peer connection and rebuilds it
// with exponential backoff when asked.

import { ApiError } from "./api.js";

const GATHER_TIMEOUT_MS = 3000;

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

/** Worth another offer: the network failed, no ingest answers yet, or the server erred. */
const worthRetrying = (err) =>
  !(err instanceof ApiError) || err.code === "WEBRTC_UNAVAILABLE" || err.status >= 500;

/**
 * Subclasses implement `addMedia(pc)`, `sendOffer(sdp)` -> answer, `offerFailed(err, retry)` and
 * `onPeerState(state, pc)`; they may extend `acceptAnswer(pc, answer)`, `awaitingAnswer(pc)` and
 * `connectingState()`. `backoff`: {name (prefix of messages), firstMs, maxMs, closeWhileWaiting}.
 */
export class PeerLink {
  constructor(session, { onState, onMessage }, backoff) {
    Object.assign(this, { session, onState, onMessage, backoff });
    this.iceServers = [];
    this.pc = null;
    this.stopped = false;
    this.attempt = 0;
    this.reconnects = 0;
    this.timer = null;
  }

  async connect() {
    this.closePeer();
    if (this.stopped) return;
    this.onState(this.connectingState());
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.addMedia(pc);
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.pc && !this.stopped) this.onPeerState(pc.connectionState, pc);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringDone(pc);
    this.awaitingAnswer(pc);
    try {
      const answer = await this.sendOffer(pc.localDescription.sdp);
      if (pc !== this.pc) return;
      await this.acceptAnswer(pc, answer);
    } catch (err) {
      if (pc !== this.pc || this.stopped) return;
      this.offerFailed(err, worthRetrying(err));
    }
  }

  connectingState() {
    return "connecting";
  }

  awaitingAnswer(_pc) {}

  async acceptAnswer(pc, answer) {
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  scheduleReconnect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const { name, firstMs, maxMs, closeWhileWaiting } = this.backoff;
    if (closeWhileWaiting) this.closePeer();
    const delay = Math.min(maxMs, firstMs * 2 ** this.attempt);
    this.attempt += 1;
    this.onState("reconnecting");
    this.timer = setTimeout(() => {
      this.reconnects += 1;
      this.connect().catch((err) => this.onMessage(`${name}: ${err.message}`, "error"));
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
