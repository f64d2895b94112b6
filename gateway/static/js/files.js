// Source "file": an image or video file: frames are JPEG-encoded in the page and
// uploaded one by one to POST /stream/process (the seed API's upload path). A
// still image is sent once (and again when the controls change, since results
// are computed per frame); a video plays and is sampled at the upload rate,
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

/**
 * Two rates meet here: the session's analysis rate (its config's `fps_limit`, set by the FPS
 * control) and this page's upload rate, the frames per second it delivers. A video is sampled at
 * the upload rate, which follows the analysis rate: frames beyond it would only be skipped.
 */
class FileSource {
  constructor() {
    this.file = null;
    this.objectUrl = null;
    this.uploadFps = 0;
    this.count = 0;
    this.busy = false;
    this.skipped = 0;
    this.timer = null;
    this.stopped = false;
  }

  get isVideo() {
    return this.file.type.startsWith("video/");
  }

  async start(ctx) {
    const file = document.getElementById("file").files[0];
    if (!file) throw new Error("Choose an image or video file first.");
    this.file = file;
    this.session = await ctx.openSession({ type: "upload" });
    this.uploadFps = this.session.config.fps_limit;
    Object.assign(this, { video: ctx.stage.video, onMessage: ctx.onMessage });
    const live = this.isVideo && !ctx.align;
    ctx.stage.show({ video: live, picture: !live });
    const view = ctx.stage.useView(live ? "live" : "aligned", { holdMs: 1500 });
    this.onFrame = (f) => view.addFrame(f);  // ({seq, capturedAtMs, bitmap}) for the aligned view
    await this.play(ctx.onState);
  }

  async play(onState) {
    if (this.isVideo) {
      this.objectUrl = URL.createObjectURL(this.file);
      this.video.src = this.objectUrl;
      this.video.loop = true;
      await this.video.play();
      onState("live");
      this.loop();
    } else {
      this.image = await createImageBitmap(this.file).catch(() => {
        throw new Error("This file is not an image or video the browser can read.");
      });
      onState("live");
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
    this.timer = setTimeout(() => this.loop(), 1000 / this.uploadFps);
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

  /** The session's analysis rate changed: deliver frames at that rate from now on. */
  setFps(analysisFps) {
    this.uploadFps = analysisFps;
  }

  stats() {
    return { skipped: this.skipped };
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.objectUrl) {
      this.video.pause();
      URL.revokeObjectURL(this.objectUrl);
      this.video.removeAttribute("src");
    }
  }
}

export const source = {
  kind: "file",
  label: "Image or video file",
  fields: `<label>File <input id="file" type="file" accept="image/*,video/*"></label>`,
  create: () => new FileSource(),
};
