// The page: choose a source, start a session, show the picture with its boxes.
// This module wires the parts together: the registry of sources (sources.js),
// the side panel (page.js), the stage and its views (stage.js), the stats
// panel, the zones editor and the controller of the session (controller.js).
// Everything worth inspecting is mirrored into `window.sightwire` so that people
// (devtools) and tests can read it.
// Deep links: `/?source=webcam&autostart=1` starts at once (`fps`, `confidence`,
// `classes`, `depth`, `align` and a source's own fields, e.g. `url`, preset the
// form); `/?session=<id>&token=<t>` watches an existing session (a wall
// display); `view=mjpeg` shows a camera as the MJPEG preview of the analysed
// frames instead of its live video.

import { api } from "./api.js";
import { Controller } from "./controller.js";
import { Page } from "./page.js";
import { SceneEditor } from "./scene.js";
import { SOURCES } from "./sources.js";
import { Stage } from "./stage.js";
import { StatsPanel } from "./statspanel.js";
import { WatchSource } from "./watch.js";

const STATS_MS = 500;
const PATCH_DEBOUNCE_MS = 250;

/** Everything worth inspecting, in one plain object (tests read it with page.evaluate). */
function initialState() {
  return {
    mode: null,            // a source's kind ("webcam" | "url" | "file") or "watch"
    view: null,            // "live" | "aligned" | "video"
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
}

function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const sourceOfKind = (kind) => SOURCES.find((s) => s.kind === kind);

function bind(page, app) {
  const { el } = page;
  el.form.addEventListener("change", () => page.showChosenFields());
  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = sourceOfKind(page.chosenKind());
    app.start(chosen.create(), chosen.kind);
  });
  el.stop.addEventListener("click", () => app.stop());
  const patchLater = debounce((changes) => app.patch(changes), PATCH_DEBOUNCE_MS);
  el.fps.addEventListener("input", () => {
    page.syncOutputs();
    patchLater({ fps_limit: Number(el.fps.value) });  // the session's analysis rate
  });
  el.conf.addEventListener("input", () => {
    page.syncOutputs();
    patchLater({ confidence_threshold: Number(el.conf.value) });
  });
  el.depth.addEventListener("change", () => app.patch({ enable_depth: el.depth.checked }));
  el.classes.addEventListener("change", () => app.patch({ classes: page.classes() }));
  // Enter in the classes field submits the controls form: apply it instead of reloading the page.
  el.controls.addEventListener("submit", (event) => event.preventDefault());
  window.addEventListener("pagehide", () => app.stop());
}

/** GET /stream/models: the class names the running detector reports. */
async function suggestClassNames(page) {
  const { models } = await api.models().catch(() => ({ models: [] }));
  page.suggestClassNames(new Set(models.filter((m) => m.kind === "detector").flatMap((m) => m.labels)));
}

function followDeepLink(page, app) {
  const params = new URLSearchParams(location.search);
  const { el } = page;
  for (const [key, input] of [["fps", el.fps], ["confidence", el.conf], ["classes", el.classes]]) {
    if (params.has(key)) input.value = params.get(key);
  }
  if (params.has("depth")) el.depth.checked = params.get("depth") !== "0";
  if (params.has("align")) el.align.checked = params.get("align") !== "0";
  for (const source of SOURCES) source.fromLink?.(params);
  page.syncOutputs();
  if (params.get("session") && params.get("token")) {
    app.start(new WatchSource(params.get("session"), params.get("token")), "watch");
    return;
  }
  const chosen = sourceOfKind(params.get("source"));
  if (chosen) {
    page.choose(chosen.kind);
    if (params.get("autostart") === "1") app.start(chosen.create(), chosen.kind);
  }
}

function main() {
  const state = initialState();
  window.sightwire = state;
  const page = new Page(state);
  const $ = (id) => document.getElementById(id);
  const stage = new Stage({ video: $("video"), picture: $("picture"), overlay: $("overlay"), placeholder: $("placeholder") }, state);
  const panel = new StatsPanel(state, stage);
  let app = null;
  const scene = new SceneEditor({
    canvas: $("zones"),
    stage: $("stage"),
    panel: $("scene"),
    frameSize: () => state.lastResult || state.session?.frameSize,
    onConfig: (config) => app.configSaved(config),
    onMessage: (text, level) => page.showMessage(text, level),
  });
  app = new Controller({ page, stage, panel, scene, state });
  page.renderSources(SOURCES);
  bind(page, app);
  suggestClassNames(page);
  page.syncOutputs();
  followDeepLink(page, app);
  const draw = () => {
    stage.draw();
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
  setInterval(() => panel.update(app.source), STATS_MS);
  state.videoFramesDecoded = () => app.framesDecoded();
}

main();
