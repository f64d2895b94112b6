// Source "url": a camera the pipeline reads itself (rtsp://… or http://… MJPEG).
// Its picture (CameraPicture, also used to watch a session: watch.js) is the
// camera's live video over WebRTC from its owner (video.js), or the MJPEG
// preview of the analysed frames (mjpeg.js) with `?view=mjpeg` or when the
// video cannot connect; then the page says why.

import { MjpegSource } from "./mjpeg.js";
import { CameraVideoSource } from "./video.js";

/** `?view=mjpeg`: show the frames the models saw (MJPEG preview) instead of the camera's live video. */
const wantsPreview = () => new URLSearchParams(location.search).get("view") === "mjpeg";

/** The picture of a camera session, which the current session already is when `start` runs. */
export class CameraPicture {
  constructor() {
    this.ctx = null;
    this.current = null;      // CameraVideoSource | MjpegSource
    this.videoSource = null;  // the CameraVideoSource, also after it fell back
  }

  async start(ctx) {
    this.ctx = ctx;
    if (wantsPreview()) return this.show(new MjpegSource());
    this.videoSource = new CameraVideoSource({ onFallback: (why) => this.fallBack(why) });
    await this.show(this.videoSource);
  }

  async show(source) {
    this.current = source;
    await source.start(this.ctx);
  }

  fallBack(why) {
    this.ctx.onMessage(`Live video unavailable: ${why}. Showing the analysed frames (MJPEG preview) instead.`, "info");
    this.show(new MjpegSource());
  }

  setFps(analysisFps) {
    this.current?.setFps(analysisFps);
  }

  refresh() {
    this.current?.refresh();
  }

  /** After a fallback, the video's last numbers (with `fallback`, why) stay on show. */
  stats() {
    const own = this.current?.stats() ?? { skipped: 0 };
    const fellBack = this.videoSource && this.current !== this.videoSource;
    return fellBack ? { ...own, video: this.videoSource.videoStats } : own;
  }

  framesDecoded() {
    return this.current?.framesDecoded?.() ?? Promise.resolve(0);
  }

  stop() {
    this.current?.stop();
  }
}

class CameraUrlSource extends CameraPicture {
  async start(ctx) {
    const url = document.getElementById("camera-url").value.trim();
    if (!url) throw new Error("Enter a camera URL (rtsp://… or http://…).");
    const type = /^rtsps?:/i.test(url) ? "rtsp" : "http";
    await ctx.openSession({ type, url });
    await super.start(ctx);
  }
}

export const source = {
  kind: "url",
  label: "Camera URL",
  fields: `<label>URL <input id="camera-url" type="text" placeholder="rtsp://camera/stream or http://camera/video.mjpg" autocomplete="off"></label>`,
  /** `?url=` fills the field. */
  fromLink: (params) => {
    if (params.has("url")) document.getElementById("camera-url").value = params.get("url");
  },
  create: () => new CameraUrlSource(),
};
