// Reads the gateway's MJPEG preview with fetch instead of an <img>, because an
// <img> hides which frame it is showing. Each part carries X-Frame-Seq and
// X-Captured-At-Ns, so the page can draw every frame with the result of the
// same seq: boxes line up exactly, whatever the inference delay. As a source
// (MjpegSource) it shows any session's analysed frames: a camera with
// `?view=mjpeg` or without working WebRTC video, or a watched session.

import { previewUrl } from "./api.js";

const CRLF2 = [13, 10, 13, 10];

function indexOf(bytes, pattern, from) {
  outer: for (let i = from; i <= bytes.length - pattern.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

function parseHeaders(text) {
  const headers = {};
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** Incremental multipart parser: feed chunks, get {headers, body} parts. Needs Content-Length per part. */
export class MultipartParser {
  constructor() {
    this.buffer = new Uint8Array(0);
  }
  push(chunk) {
    const merged = new Uint8Array(this.buffer.length + chunk.length);
    merged.set(this.buffer);
    merged.set(chunk, this.buffer.length);
    this.buffer = merged;
    const parts = [];
    for (let part = this.next(); part; part = this.next()) parts.push(part);
    return parts;
  }
  next() {
    const end = indexOf(this.buffer, CRLF2, 0);
    if (end < 0) return null;
    const headers = parseHeaders(new TextDecoder().decode(this.buffer.subarray(0, end)));
    const length = Number(headers["content-length"]);
    if (!Number.isFinite(length)) throw new Error("MJPEG part without Content-Length");
    const start = end + 4;
    if (this.buffer.length < start + length) return null;
    const body = this.buffer.slice(start, start + length);
    this.buffer = this.buffer.slice(start + length);
    return { headers, body };
  }
}

/** Stream frames {seq, capturedAtMs, blob} to `onFrame` until `signal` aborts or the stream ends. */
export async function readMjpeg(url, { onFrame, onState, signal }) {
  const response = await fetch(url, { signal, cache: "no-store" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || `preview failed: HTTP ${response.status}`);
  }
  onState("open");
  const reader = response.body.getReader();
  const parser = new MultipartParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    for (const { headers, body } of parser.push(value)) {
      onFrame({
        seq: Number(headers["x-frame-seq"]),
        capturedAtMs: Number(headers["x-captured-at-ns"]) / 1e6,
        blob: new Blob([body], { type: "image/jpeg" }),
      });
    }
  }
  onState("closed");
}

/** The MJPEG preview of the current session, shown aligned: each frame with its own result. */
export class MjpegSource {
  constructor() {
    this.abort = new AbortController();
  }

  start(ctx) {
    const { stage } = ctx;
    stage.show({ video: false, picture: true });
    const view = stage.useView("aligned", { holdMs: 800 });
    const { signal } = this.abort;
    readMjpeg(previewUrl(ctx.session), {
      signal,
      onState: (s) => ctx.onState(s === "open" ? "live" : s),
      onFrame: async (f) => {
        const bitmap = await createImageBitmap(f.blob);
        if (signal.aborted) bitmap.close();
        else view.addFrame({ ...f, bitmap });
      },
    }).catch((err) => {
      if (err.name !== "AbortError") {
        ctx.onMessage(`Preview: ${err.message}`, "error");
        ctx.onState("error");
      }
    });
  }

  /** The preview shows what the session analysed, at its analysis rate. */
  setFps(_analysisFps) {}

  refresh() {}

  stats() {
    return { skipped: 0 };
  }

  stop() {
    this.abort.abort();
  }
}
