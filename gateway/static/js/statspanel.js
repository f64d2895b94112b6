// The stats panel: results per second, glass-to-overlay percentiles, lag,
// frames dropped here and skipped by the gateway (polled from the session's
// stats), objects, connection. Numbers are mirrored into the page's state.

import { api } from "./api.js";
import { fmtMs, RateMeter } from "./stats.js";

const POLL_MS = 2000;

const $ = (id) => document.getElementById(id);

export class StatsPanel {
  constructor(state, stage) {
    Object.assign(this, { state, stage });
    this.processed = new RateMeter(3000);
    this.serverStats = {};
    this.timer = 0;
  }

  resultArrived() {
    this.processed.tick();
  }

  /** Poll the session's own stats (skipped results) while it runs. */
  follow(session) {
    this.unfollow();
    this.timer = setInterval(() => this.poll(session), POLL_MS);
  }

  unfollow() {
    clearInterval(this.timer);
  }

  async poll(session) {
    try {
      this.serverStats = (await api.stats(session)).streams || {};
    } catch {
      // the next poll will tell; a failed poll is not worth a message
    }
  }

  /** Twice a second: gather the numbers of the view and of the running source, and show them. */
  update(source) {
    const { state, stage } = this;
    const view = stage.view;
    const own = source?.stats() ?? {};
    Object.assign(state.stats, {
      fps: this.processed.rate(),
      p50: stage.latency.percentile(50),
      p95: stage.latency.percentile(95),
      droppedClient: (view?.dropped() || 0) + (own.skipped || 0),
      skippedServer: this.serverStats.skipped ?? 0,
      objects: state.drawn.boxes.length,
    });
    state.reconnects = own.reconnects ?? state.reconnects;
    state.matchGapsMs = view?.matchGaps?.() ?? [];
    if (own.video) state.video = own.video;
    this.show(Boolean(view));
  }

  show(running) {
    const { state } = this;
    const s = state.stats;
    $("s-vfps").textContent = state.video && !state.video.fallback ? state.video.fps.toFixed(1) : "–";
    $("s-fps").textContent = running ? s.fps.toFixed(1) : "–";
    $("s-p50").textContent = fmtMs(s.p50);
    $("s-p95").textContent = fmtMs(s.p95);
    $("s-lag").textContent = fmtMs(s.lagMs);
    if (s.lagKind) $("s-lag-label").textContent = s.lagKind;
    $("s-dropped").textContent = running ? `${s.droppedClient} here · ${s.skippedServer} skipped` : "–";
    $("s-objects").textContent = running ? String(s.objects) : "–";
    $("s-conn").textContent = `${state.connection} · results ${state.results}`;
  }
}
