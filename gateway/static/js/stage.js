// The stage: the <video>, the picture canvas and the overlay, and the view that
// draws on them (views.js, syncview.js). The source picks the view; the stage
// draws it on every animation frame and records what is on screen in the
// page's inspectable state (`drawn`, `latencies`, `seenLabels`, ...).

import { Rolling } from "./stats.js";
import { AlignedView, LiveView } from "./views.js";

export class Stage {
  constructor({ video, picture, overlay, placeholder }, state) {
    Object.assign(this, { video, picture, overlay, placeholder, state });
    this.view = null;
    this.latency = new Rolling(300);  // glass-to-overlay, ms, of the results drawn lately
  }

  show({ video, picture }) {
    this.video.hidden = !video;
    this.picture.hidden = !picture;
    this.placeholder.hidden = true;
  }

  /** "live": boxes over the playing <video>; "aligned": each frame waits for its result (AlignedPlayer). */
  useView(kind, options) {
    const view = kind === "live" ? new LiveView(this.video, this.overlay) : new AlignedView(this.picture, this.overlay, options);
    return this.setView(kind, view);
  }

  setView(kind, view) {
    this.state.view = kind;
    this.view = view;
    return view;
  }

  /** One animation frame: draw the view, record what was drawn. */
  draw() {
    if (this.view) this.record(this.view.draw());
  }

  record(out) {
    const { state } = this;
    const drawn = state.drawn;
    drawn.boxes = out.boxes;
    drawn.stale = Boolean(out.stale);
    drawn.frameSeq = out.frameSeq ?? null;
    drawn.frameCaptureMs = out.frameCaptureMs ?? null;
    drawn.resultCaptureMs = out.resultCaptureMs ?? null;
    if (out.result) drawn.seq = out.result.seq;
    if (out.latencyMs != null) {
      drawn.count += 1;
      this.latency.add(out.latencyMs);
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

  clear() {
    this.view?.clear();
    this.view = null;
    this.video.srcObject = null;
    this.state.view = null;
  }
}
