// Zones, lines, counts and events on the live picture (DESIGN §8).
// Draw: press "Draw zone" (click points, Save) or "Draw line" (two clicks), name it; the shapes are
// saved in the session config (PATCH), so every viewer and a deep link `/?session=&token=` sees them.
// Counts are drawn beside each shape; the event list shows each event with its snapshot thumbnail.
// Live events come with the results stream (`type: "event"`); the list is also filled from the
// replay endpoint (`GET .../events?after=`), so a viewer that joins late sees what happened.
// What the module knows is mirrored into `window.sightwire.scene` for tests.

import { api } from "./api.js";
import { containRect, fitCanvas } from "./overlay.js";

const POLL_MS = 2000;
const MAX_EVENTS = 50;
const THUMB_RETRIES = 4;

export class SceneEditor {
  /** `frameSize()` -> {width, height} of the picture; `onConfig(config)` after a save; `onMessage(text, level)`. */
  constructor({ canvas, stage, panel, frameSize, onConfig, onMessage }) {
    Object.assign(this, { canvas, stage, panel, frameSize, onConfig, onMessage });
    this.session = null;
    this.timer = 0;
    this.drawing = null; // {kind: "zone"|"line", points: [[x, y], ...]}
    this.state = { zones: [], lines: [], counts: { zones: {}, lines: {} }, events: [], lastEventId: null };
    const $ = (sel) => panel.querySelector(sel);
    this.el = {
      name: $("#shape-name"), zone: $("#draw-zone"), line: $("#draw-line"), done: $("#draw-done"),
      cancel: $("#draw-cancel"), clear: $("#shapes-clear"), shapes: $("#shapes"), events: $("#event-list"),
    };
    this.el.zone.addEventListener("click", () => this.begin("zone"));
    this.el.line.addEventListener("click", () => this.begin("line"));
    this.el.done.addEventListener("click", () => this.save());
    this.el.cancel.addEventListener("click", () => this.end());
    this.el.clear.addEventListener("click", () => this.store([], []));
    canvas.addEventListener("click", (event) => this.addPoint(event));
    window.sightwire = window.sightwire || {};
    window.sightwire.scene = this.state;
    const loop = () => {
      this.render();
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  attach(session) {
    this.detach();
    this.session = session;
    this.setConfig(session.config || {});
    this.state.events = [];
    this.state.lastEventId = null;
    this.el.events.replaceChildren();
    this.poll();
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.enable(true);
  }

  detach() {
    clearInterval(this.timer);
    this.session = null;
    this.end();
    this.enable(false);
  }

  enable(on) {
    for (const b of [this.el.zone, this.el.line, this.el.clear]) b.disabled = !on;
  }

  setConfig(config) {
    this.state.zones = config.zones || [];
    this.state.lines = config.lines || [];
    this.renderShapes();
  }

  /** A live event from the results stream. */
  addEvent(event) {
    if (this.state.events.some((e) => e.id === event.id)) return;
    this.state.events.push(event);
    if (this.state.events.length > MAX_EVENTS) this.state.events.shift();
    if (event.counts) this.state.counts = event.counts;
    this.el.events.prepend(this.eventItem(event));
    while (this.el.events.children.length > MAX_EVENTS) this.el.events.lastChild.remove();
    this.renderShapes();
  }

  async poll() {
    const s = this.session;
    if (!s) return;
    try {
      const query = new URLSearchParams({ limit: "100" });
      if (this.state.lastEventId) query.set("after", this.state.lastEventId);
      const page = await api.events(s, query);
      for (const event of page.events) this.addEvent(event);
      if (page.next) this.state.lastEventId = page.next;
      const counts = await api.counts(s);
      this.state.counts = { zones: counts.zones, lines: counts.lines };
      this.renderShapes();
    } catch {
      // an expired cursor or a blip: the next poll starts over from the newest we have
      if (this.state.events.length === 0) this.state.lastEventId = null;
    }
  }

  begin(kind) {
    const name = this.el.name.value.trim();
    if (!name) {
      this.onMessage("Name the zone or line first.", "error");
      return;
    }
    this.drawing = { kind, name, points: [] };
    this.canvas.style.pointerEvents = "auto";
    this.canvas.style.cursor = "crosshair";
    this.el.done.disabled = kind === "line";
    this.el.cancel.disabled = false;
    this.onMessage(kind === "zone" ? "Click the zone's corners, then Save." : "Click the line's two ends.", "info");
  }

  end() {
    this.drawing = null;
    this.canvas.style.pointerEvents = "none";
    this.canvas.style.cursor = "";
    this.el.done.disabled = true;
    this.el.cancel.disabled = true;
  }

  /** A click on the picture -> a point in fractions of the frame. */
  addPoint(event) {
    if (!this.drawing) return;
    const rect = this.pictureRect();
    const box = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const x = ((event.clientX - box.left) * dpr - rect.x) / rect.w;
    const y = ((event.clientY - box.top) * dpr - rect.y) / rect.h;
    if (x < 0 || x > 1 || y < 0 || y > 1) return;
    this.drawing.points.push([round4(x), round4(y)]);
    if (this.drawing.kind === "line" && this.drawing.points.length === 2) this.save();
    else if (this.drawing.kind === "zone" && this.drawing.points.length >= 64) this.save();
  }

  async save() {
    const d = this.drawing;
    if (!d) return;
    const zones = this.state.zones.filter((z) => z.name !== d.name);
    const lines = this.state.lines.filter((l) => l.name !== d.name);
    if (d.kind === "zone") {
      if (d.points.length < 3) return this.onMessage("A zone needs at least 3 points.", "error");
      zones.push({ name: d.name, polygon: d.points });
    } else {
      lines.push({ name: d.name, a: d.points[0], b: d.points[1] });
    }
    this.end();
    await this.store(zones, lines);
  }

  async store(zones, lines) {
    const s = this.session;
    if (!s) return;
    try {
      const out = await api.patchConfig(s, { zones, lines });
      this.setConfig(out.config);
      this.onConfig(out.config);
      this.onMessage("", "info");
    } catch (err) {
      this.onMessage(`Zones not saved: ${err.message}`, "error");
    }
  }

  pictureRect() {
    const size = this.frameSize() || {};
    return containRect(this.canvas.width, this.canvas.height, size.width, size.height);
  }

  render() {
    const dpr = fitCanvas(this.canvas);
    const ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.session) return;
    const r = this.pictureRect();
    const at = ([x, y]) => [r.x + x * r.w, r.y + y * r.h];
    ctx.lineWidth = 2 * dpr;
    ctx.font = `${Math.round(13 * dpr)}px system-ui, sans-serif`;
    const counts = this.state.counts;
    for (const zone of this.state.zones) {
      ctx.beginPath();
      zone.polygon.forEach((p, i) => (i ? ctx.lineTo(...at(p)) : ctx.moveTo(...at(p))));
      ctx.closePath();
      ctx.fillStyle = "rgba(79, 179, 255, 0.15)";
      ctx.fill("evenodd");
      ctx.strokeStyle = "#4fb3ff";
      ctx.stroke();
      label(ctx, at(zone.polygon[0]), `${zone.name}: ${counts.zones?.[zone.name] ?? 0}`, "#4fb3ff", dpr);
    }
    for (const line of this.state.lines) {
      const [a, b] = [at(line.a), at(line.b)];
      ctx.strokeStyle = "#ffb84f";
      ctx.beginPath();
      ctx.moveTo(...a);
      ctx.lineTo(...b);
      ctx.stroke();
      const c = counts.lines?.[line.name] || { in: 0, out: 0 };
      label(ctx, b, `${line.name}: in ${c.in} · out ${c.out}`, "#ffb84f", dpr);
    }
    if (this.drawing) {
      ctx.strokeStyle = "#fff";
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.beginPath();
      this.drawing.points.forEach((p, i) => (i ? ctx.lineTo(...at(p)) : ctx.moveTo(...at(p))));
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  renderShapes() {
    const counts = this.state.counts;
    const items = [
      ...this.state.zones.map((z) => `zone ${z.name}: ${counts.zones?.[z.name] ?? 0} inside`),
      ...this.state.lines.map((l) => {
        const c = counts.lines?.[l.name] || { in: 0, out: 0 };
        return `line ${l.name}: in ${c.in} · out ${c.out}`;
      }),
    ];
    this.el.shapes.replaceChildren(...items.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
  }

  eventItem(event) {
    const li = document.createElement("li");
    li.dataset.eventId = event.id;
    li.dataset.kind = event.kind;
    const where = event.zone || event.line || "";
    const extra = event.direction ? ` ${event.direction}` : event.track_id != null ? ` #${event.track_id}` : "";
    const time = event.timestamp ? new Date(event.timestamp * 1000).toLocaleTimeString() : "";
    const text = Object.assign(document.createElement("span"), { textContent: `${time} ${event.kind} ${where}${extra}` });
    li.append(text);
    if (event.snapshot && this.session) {
      const img = Object.assign(document.createElement("img"), { alt: `snapshot of ${event.kind}`, width: 96 });
      const src = `${event.snapshot}?token=${encodeURIComponent(this.session.token)}`;
      let tries = 0;
      img.onerror = () => {
        // the notifier stores the snapshot a moment after the event: try again a few times
        if (++tries <= THUMB_RETRIES) setTimeout(() => (img.src = `${src}&try=${tries}`), 1000 * tries);
        else img.remove();
      };
      img.onload = () => (li.dataset.thumbnail = "loaded");
      img.src = src;
      li.prepend(img);
    }
    return li;
  }
}

function round4(v) {
  return Math.round(v * 10000) / 10000;
}

function label(ctx, [x, y], text, colour, dpr) {
  const pad = 3 * dpr;
  const width = ctx.measureText(text).width + 2 * pad;
  ctx.fillStyle = colour;
  ctx.fillRect(x, y - 18 * dpr, width, 17 * dpr);
  ctx.fillStyle = "#000";
  ctx.textBaseline = "top";
  ctx.fillText(text, x + pad, y - 16 * dpr);
}
