// An image or video file as the source: frames are JPEG-encoded in the page and
// uploaded one by one to POST /stream/process (the seed API's upload path). A
// still image is sent once (and again when the controls change, since results
// are computed per frame); a video plays and is sampled at the session's FPS,
// with at most one upload in flight: when the network or the gateway is slower
// than that, frames are skipped (and counted), never queued.

import { api } from "./api.js";

const MAX_SIDE = 1280;
const QUALITY = 0.85;

function scaled(width, height) {
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  return [Math.round(width * scale), Math.round(height * scale)];
}

async function toJpeg(source, width, height) {
  const [w, h] = scaled(width, height);
  const canvas = new OffscreenCanvas(w, h);
  canvas.getContext("2d").drawImage(source, 0, 0, w, h);
  return canvas.convertToBlob({ type: "image/jpeg", quality: QUALITY });
}

export class FileSource {
  constructor(session, file, video, { onFrame, onState, onMessage }) {
    this.session = session;
    this.file = file;
    this.video = video;
    this.onFrame = onFrame;  // ({seq, capturedAtMs, bitmap}) for the aligned view
    this.onState = onState;
    this.onMessage = onMessage;
    this.fps = session.config.fps_limit;
    this.count = 0;
    this.busy = false;
    this.skipped = 0;
    this.timer = null;
    this.stopped = false;
  }

  get isVideo() {
    return this.file.type.startsWith("video/");
  }

  async start() {
    if (this.isVideo) {
      this.video.src = URL.createObjectURL(this.file);
      this.video.loop = true;
      await this.video.play();
      this.onState("live");
      this.loop();
    } else {
      this.image = await createImageBitmap(this.file).catch(() => {
        throw new Error("This file is not an image or video the browser can read.");
      });
      this.onState("live");
      await this.sendStill();
    }
  }

  /** Send the still image again (after a config change); a video keeps sampling anyway. */
  refresh() {
    if (!this.isVideo && this.image) this.sendStill();
  }

  async sendStill() {
    const blob = await toJpeg(this.image, this.image.width, this.image.height);
    await this.send(blob, await createImageBitmap(this.image));  // a copy: the view closes what it is given
  }

  loop() {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.loop(), 1000 / this.fps);
    if (this.video.readyState < 2 || this.video.paused) return;
    if (this.busy) {
      this.skipped += 1;
      return;
    }
    this.grab().catch((err) => this.onMessage(`Upload failed: ${err.message}`, "error"));
  }

  async grab() {
    this.busy = true;
    try {
      const bitmap = await createImageBitmap(this.video);
      const blob = await toJpeg(bitmap, bitmap.width, bitmap.height);
      await this.send(blob, bitmap);
    } finally {
      this.busy = false;
    }
  }

  async send(blob, bitmap) {
    const capturedAtMs = Date.now();
    this.count += 1;
    const accepted = await api.upload(this.session, blob, `file-${this.count}`, capturedAtMs / 1000);
    this.onFrame({ seq: accepted.seq, capturedAtMs, bitmap });
  }

  setFps(fps) {
    this.fps = fps;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.isVideo) {
      this.video.pause();
      URL.revokeObjectURL(this.video.src);
      this.video.removeAttribute("src");
    }
  }
}
