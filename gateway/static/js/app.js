// The page: choose a source, start a session, show the picture with its boxes.
// One controller owns the running source (webcam link, MJPEG preview or file),
// the results stream and the view; everything it knows is mirrored into
// `window.sightwire` so that people (devtools) and tests can inspect it.
// Deep links: `/?source=webcam&autostart=1` starts at once;
// `/?session=<id>&token=<t>` watches an existing session (a wall display). A camera is shown as its
// live video over WebRTC (video.js), or with `view=mjpeg` as the MJPEG preview of the analysed frames.

import { api, previewUrl } from "./api.js";
import { FileSource } from "./files.js";
import { readMjpeg } from "./mjpeg.js";
import { openResults } from "./results.js";
import { SceneEditor } from "./scene.js";
import { fmtMs, RateMeter, Rolling } from "./stats.js";
import { CameraVideo, SyncView } from "./video.js";
import { AlignedView, canGrabVideoFrames, grabVideoFrames, LiveView } from "./views.js";
import { openCamera, WebcamLink } from "./webcam.js";

const $ = (id) => document.getElementById(id);
const el = {
  stage: $("stage"), video: $("video"), picture: $("picture"), overlay: $("overlay"), placeholder: $("placeholder"),
  form: $("source-form"), url: $("camera-url"), file: $("file"), align: $("align"), start: $("start"), stop: $("stop"),
  controls: $("controls"), fps: $("fps"), conf: $("conf"), depth: $("depth"), classes: $("classes"), conn: $("conn"), sid: $("session-id"),
  message: $("message"),
};

/** Everything worth inspecting, in one plain object (tests read it with page.evaluate). */
const state = {
  mode: null,            // "webcam" | "url" | "file" | "watch"
  view: null,            // "live" | "aligned"
  session: null,         // {sid, source}
  config: null,          // the session config as the gateway last returned it
  connection: "idle",    // peer / stream connection state
  results: "closed",     // results stream state
  resultsReceived: 0,
  lastResult: null,
  // What is on screen: result seq, frame seq (aligned view), boxes in canvas pixels; count = results drawn.
  drawn: { count: 0, seq: null, frameSeq: null, boxes: [], stale: false },
  latencies: [],         // glass-to-overlay, ms, one per result first drawn
  seenLabels: {},        // label -> number of results drawn that had it
  distancesDrawn: 0,     // boxes drawn with a distance
  stats: {},
  errors: [],
  reconnects: 0,         // WebRTC peer connections rebuilt after a failure
  matchGapsMs: [],       // aligned webcam: capture-time gap between each result and the frame it was put on
  video: null,           // camera video over WebRTC: {instance, fps, reconnects, fallback, delays, exact, predicted}
};
window.sightwire = state;

const latency = new Rolling(300);
const processed = new RateMeter(3000);

class Controller {
  constructor() {
    this.session = null;
    this.results = null;
    this.source = null;      // WebcamLink | FileSource
    this.preview = null;     // AbortController of the MJPEG reader
    this.stream = null;      // the camera MediaStream
    this.stopGrab = () => {};
    this.view = null;
    this.serverStats = {};
    this.watching = false;
  }

  config() {
    const classes = el.classes.value.split(",").map((c) => c.trim()).filter(Boolean);
    return {
      fps_limit: Number(el.fps.value),
      confidence_threshold: Number(el.conf.value),
      enable_depth: el.depth.checked,
      classes: classes.length ? classes : null,
    };
  }

  async start(kind) {
    await this.stop();
    state.mode = kind;
    setConnection("connecting");
    try {
      if (kind === "webcam") await this.startWebcam();
      else if (kind === "url") await this.startUrl(el.url.value.trim());
      else if (kind === "file") await this.startFile(el.file.files[0]);
      setRunning(true);
    } catch (err) {
      showMessage(err.message, "error");
      await this.stop();
      setConnection("error");
    }
  }

  async startWebcam() {
    this.stream = await openCamera();  // before the session: a denied camera leaves nothing behind
    await this.openSession({ type: "webrtc" });
    el.video.srcObject = this.stream;
    // Aligning needs each camera frame's capture time (requestVideoFrameCallback; Firefox only since 132).
    const align = el.align.checked && canGrabVideoFrames();
    if (el.align.checked && !align) showMessage("This browser cannot align the camera picture: shown live.", "info");
    // When aligned, the live video stays rendered under the canvas: a hidden video presents no frames to grab.
    this.show({ video: true, picture: align });
    this.useView(align ? "aligned" : "live", { toleranceMs: 40 });
    if (align) this.stopGrab = grabVideoFrames(el.video, (f) => this.view.addFrame(f));
    this.source = new WebcamLink(this.session, this.stream, { onState: setConnection, onMessage: showMessage });
    await this.source.start();
  }

  async startUrl(url) {
    if (!url) throw new Error("Enter a camera URL (rtsp://… or http://…).");
    const type = /^rtsps?:/i.test(url) ? "rtsp" : "http";
    await this.openSession({ type, url });
    if (wantsPreview()) this.startPreview();
    else await this.startCameraVideo();
  }

  /** A camera session: its video over WebRTC from the camera's owner; the MJPEG preview if that fails. */
  async startCameraVideo() {
    this.show({ video: true, picture: false });
    state.view = "video";
    this.view = new SyncView(el.video, el.overlay, { align: el.align.checked });
    state.video = { instance: null, fps: 0, reconnects: 0, fallback: null, delays: [], exact: 0, predicted: 0 };
    const link = new CameraVideo(this.session, el.video, {
      onState: setConnection,
      onMessage: showMessage,
      onFrame: (f) => {
        this.view?.addFrame?.(f);
        if (f.captureMs != null) state.video.delays.push(Math.round(f.displayAtMs - f.captureMs));
        if (state.video.delays.length > 2000) state.video.delays.shift();
      },
      onFallback: (why) => {
        state.video.fallback = why;
        this.source = null;
        showMessage(`Live video unavailable: ${why}. Showing the analysed frames (MJPEG preview) instead.`, "info");
        this.startPreview();
      },
    });
    this.source = link;
    this.view.link = link;
    await link.start();
  }

  async startFile(file) {
    if (!file) throw new Error("Choose an image or video file first.");
    await this.openSession({ type: "upload" });
    const isVideo = file.type.startsWith("video/");
    this.show({ video: isVideo && !el.align.checked, picture: !isVideo || el.align.checked });
    this.useView(isVideo && !el.align.checked ? "live" : "aligned", { holdMs: 1500 });
    this.source = new FileSource(this.session, file, el.video, {
      onFrame: (f) => this.view.addFrame(f),
      onState: setConnection,
      onMessage: showMessage,
    });
    await this.source.start();
  }

  /** Watch a session someone else created (deep link): its preview and its results. */
  async watch(sid, token) {
    this.watching = true;
    state.mode = "watch";
    this.session = { sid, token };
    const stats = await api.stats(this.session);
    this.session.config = stats.config;
    this.session.source = stats.source;
    showConfig(stats.config);
    this.afterSession();
    if (["rtsp", "http", "file", "usb"].includes(stats.source?.type) && !wantsPreview()) await this.startCameraVideo();
    else this.startPreview();
    setRunning(true);
  }

  async openSession(source) {
    const created = await api.createSession(source, this.config());
    this.session = { sid: created.client_id, token: created.token, config: created.config, source: created.source };
    this.afterSession();
  }

  afterSession() {
    state.session = { sid: this.session.sid, source: this.session.source };
    state.config = this.session.config;
    el.sid.textContent = `session ${this.session.sid}`;
    this.results = openResults(this.session, {
      onResult: (r) => this.onResult(r),
      onError: (e) => showMessage(`${e.error_code}: ${e.error}`, e.error_code === "SOURCE_RESTORED" ? "info" : "error"),
      onState: (s) => (state.results = s),
      onClosed: (c) => this.onClosed(c),
      onEvent: (e) => scene.addEvent(e),
    });
    scene.attach(this.session);
    this.statsTimer = setInterval(() => this.pollStats(), 2000);
  }

  startPreview() {
    this.show({ video: false, picture: true });
    this.useView("aligned", { holdMs: 800 });
    this.preview = new AbortController();
    readMjpeg(previewUrl(this.session), {
      signal: this.preview.signal,
      onState: (s) => setConnection(s === "open" ? "live" : s),
      onFrame: async (f) => this.view?.addFrame({ ...f, bitmap: await createImageBitmap(f.blob) }),
    }).catch((err) => {
      if (err.name !== "AbortError") {
        showMessage(`Preview: ${err.message}`, "error");
        setConnection("error");
      }
    });
  }

  useView(kind, options) {
    state.view = kind;
    this.view = kind === "live" ? new LiveView(el.video, el.overlay) : new AlignedView(el.picture, el.overlay, options);
  }

  show({ video, picture }) {
    el.video.hidden = !video;
    el.picture.hidden = !picture;
    el.placeholder.hidden = true;
  }

  onResult(result) {
    state.resultsReceived += 1;
    state.lastResult = result;
    processed.tick();
    this.view?.addResult(result);
  }

  async onClosed(closed) {
    showMessage(`Session ended: ${closed.error || closed.error_code}`, "info");
    await this.stop({ keepSession: true });
  }

  /** One animation frame: draw the view, record what was drawn. */
  draw() {
    if (this.view) {
      const out = this.view.draw();
      const drawn = state.drawn;
      drawn.boxes = out.boxes;
      drawn.stale = Boolean(out.stale);
      drawn.frameSeq = out.frameSeq ?? null;
      drawn.frameCaptureMs = out.frameCaptureMs ?? null;
      drawn.resultCaptureMs = out.resultCaptureMs ?? null;
      if (out.result) drawn.seq = out.result.seq;
      if (out.latencyMs != null) {
        drawn.count += 1;
        latency.add(out.latencyMs);
        state.latencies.push(Math.round(out.latencyMs));
        if (state.latencies.length > 1000) state.latencies.shift();
        for (const label of new Set(out.boxes.map((b) => b.label))) {
          state.seenLabels[label] = (state.seenLabels[label] || 0) + 1;
        }
        state.distancesDrawn += out.result.detections.filter((d) => d.distance_m != null).length;
      }
      state.stats.lagMs = out.lagMs;
      state.stats.lagKind = out.lagKind;
    }
    requestAnimationFrame(() => this.draw());
  }

  async pollStats() {
    if (!this.session) return;
    try {
      this.serverStats = (await api.stats(this.session)).streams || {};
    } catch {
      // the next poll will tell; a failed poll is not worth a message
    }
  }

  updateStats() {
    const clientDropped = (this.view?.dropped() || 0) + (this.source?.skipped || 0);
    Object.assign(state.stats, {
      fps: processed.rate(),
      p50: latency.percentile(50),
      p95: latency.percentile(95),
      droppedClient: clientDropped,
      skippedServer: this.serverStats.skipped ?? 0,
      objects: state.drawn.boxes.length,
    });
    state.reconnects = this.source?.reconnects ?? state.reconnects;
    state.matchGapsMs = this.view?.matchGaps?.() ?? [];
    if (state.video && this.source instanceof CameraVideo) {
      Object.assign(state.video, { instance: this.source.instance, fps: this.source.fps.rate(), reconnects: this.source.reconnects });
      Object.assign(state.video, { exact: this.view?.exactDraws ?? 0, predicted: this.view?.predictedDraws ?? 0 });
      state.video.knownShare = this.view?.knownShare?.() ?? 0;
      this.view?.adjustDelay?.();
    }
    $("s-vfps").textContent = state.video && !state.video.fallback ? state.video.fps.toFixed(1) : "–";
    const s = state.stats;
    $("s-fps").textContent = this.view ? s.fps.toFixed(1) : "–";
    $("s-p50").textContent = fmtMs(s.p50);
    $("s-p95").textContent = fmtMs(s.p95);
    $("s-lag").textContent = fmtMs(s.lagMs);
    if (s.lagKind) $("s-lag-label").textContent = s.lagKind;
    $("s-dropped").textContent = this.view ? `${s.droppedClient} here · ${s.skippedServer} skipped` : "–";
    $("s-objects").textContent = this.view ? String(s.objects) : "–";
    $("s-conn").textContent = `${state.connection} · results ${state.results}`;
  }

  async patch(changes) {
    if (!this.session) return;
    try {
      const out = await api.patchConfig(this.session, changes);
      this.session.config = state.config = out.config;
      scene.setConfig(out.config);
      if (changes.fps_limit) this.source?.setFps?.(changes.fps_limit);
      this.source?.refresh?.();
    } catch (err) {
      showMessage(`Settings not applied: ${err.message}`, "error");
    }
  }

  async stop({ keepSession = false } = {}) {
    clearInterval(this.statsTimer);
    scene.detach();
    this.stopGrab();
    this.stopGrab = () => {};
    this.results?.close();
    this.source?.stop();
    this.preview?.abort();
    this.stream?.getTracks().forEach((t) => t.stop());
    this.view?.clear();
    const ending = this.session;
    Object.assign(this, { results: null, source: null, preview: null, stream: null, view: null, session: null });
    el.video.srcObject = null;
    state.view = null;
    setRunning(false);
    if (ending && !keepSession && !this.watching) await api.deleteSession(ending).catch(() => {});
    this.watching = false;
    setConnection("idle");
  }
}

/** `?view=mjpeg`: show the frames the models saw (MJPEG preview) instead of the camera's live video. */
function wantsPreview() {
  return new URLSearchParams(location.search).get("view") === "mjpeg";
}

function setConnection(value) {
  state.connection = value;
  el.conn.textContent = value;
  el.conn.dataset.state = value;
}

function setRunning(running) {
  el.start.disabled = running;
  el.stop.disabled = !running;
}

function showMessage(text, level = "info") {
  el.message.hidden = !text;
  el.message.textContent = text || "";
  el.message.dataset.level = level;
  if (text && level === "error") state.errors.push(text);
}

function showConfig(config) {
  el.fps.value = config.fps_limit;
  el.conf.value = config.confidence_threshold;
  el.depth.checked = config.enable_depth;
  el.classes.value = (config.classes || []).join(", ");
  syncOutputs();
}

function syncOutputs() {
  $("fps-out").textContent = el.fps.value;
  $("conf-out").textContent = Number(el.conf.value).toFixed(2);
}

function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function bind(app) {
  const kind = () => el.form.querySelector("input[name=source]:checked").value;
  const showKind = () => (el.form.dataset.kind = kind());
  el.form.addEventListener("change", showKind);
  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    app.start(kind());
  });
  el.stop.addEventListener("click", () => app.stop());
  const patchLater = debounce((changes) => app.patch(changes), 250);
  el.fps.addEventListener("input", () => {
    syncOutputs();
    patchLater({ fps_limit: Number(el.fps.value) });
  });
  el.conf.addEventListener("input", () => {
    syncOutputs();
    patchLater({ confidence_threshold: Number(el.conf.value) });
  });
  el.depth.addEventListener("change", () => app.patch({ enable_depth: el.depth.checked }));
  el.classes.addEventListener("change", () => app.patch({ classes: app.config().classes }));
  // Enter in the classes field submits the controls form: apply it instead of reloading the page.
  el.controls.addEventListener("submit", (event) => event.preventDefault());
  window.addEventListener("pagehide", () => app.stop());
  suggestClassNames();
  showKind();
  syncOutputs();
}

/** The classes filter suggests the class names the running detector reports (GET /stream/models). */
async function suggestClassNames() {
  const { models } = await api.models().catch(() => ({ models: [] }));
  const names = new Set(models.filter((m) => m.kind === "detector").flatMap((m) => m.labels));
  $("class-names").replaceChildren(...[...names].map((name) => Object.assign(document.createElement("option"), { value: name })));
}

function deepLink(app) {
  const params = new URLSearchParams(location.search);
  for (const [key, input] of [["fps", el.fps], ["confidence", el.conf], ["classes", el.classes]]) {
    if (params.has(key)) input.value = params.get(key);
  }
  if (params.has("depth")) el.depth.checked = params.get("depth") !== "0";
  if (params.has("align")) el.align.checked = params.get("align") !== "0";
  if (params.has("url")) el.url.value = params.get("url");
  syncOutputs();
  if (params.get("session") && params.get("token")) {
    app.watch(params.get("session"), params.get("token")).catch((err) => {
      showMessage(`Cannot watch this session: ${err.message}`, "error");
      setConnection("error");
    });
    return;
  }
  const source = params.get("source");
  const radio = source && el.form.querySelector(`input[name=source][value="${CSS.escape(source)}"]`);
  if (radio) {
    radio.checked = true;
    el.form.dataset.kind = source;
    if (params.get("autostart") === "1") app.start(source);
  }
}

const scene = new SceneEditor({
  canvas: $("zones"),
  stage: el.stage,
  panel: $("scene"),
  frameSize: () => state.lastResult || state.session?.frameSize,
  onConfig: (config) => app.session && (app.session.config = state.config = config),
  onMessage: showMessage,
});
const app = new Controller();
bind(app);
deepLink(app);
requestAnimationFrame(() => app.draw());
setInterval(() => app.updateStats(), 500);
// For tests and devtools: the camera video's decoded-frame count (RTCPeerConnection getStats).
state.videoFramesDecoded = () => (app.source instanceof CameraVideo ? app.source.framesDecoded() : Promise.resolve(0));
