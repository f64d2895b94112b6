// The session's lifecycle: one running source at a time, the session it opened
// (or joined), its results stream, its zones and its settings. Sources come
// from the registry (sources.js) or a deep link (watch.js); they all have one
// interface, so nothing here knows which kind is running.

import { api } from "./api.js";
import { openResults } from "./results.js";

export class Controller {
  constructor({ page, stage, panel, scene, state }) {
    Object.assign(this, { page, stage, panel, scene, state });
    this.session = null;   // {sid, token, config, source, joined}
    this.results = null;
    this.source = null;
  }

  /** Stop what runs, then start `source`; `mode` is mirrored as `state.mode` ("webcam", "watch", ...). */
  async start(source, mode) {
    await this.stop();
    this.state.mode = mode;
    this.page.setConnection("connecting");
    this.source = source;
    try {
      await source.start(this.context());
      this.page.setRunning(true);
    } catch (err) {
      this.page.showMessage(err.message, "error");
      await this.stop();
      this.page.setConnection("error");
    }
  }

  /** What a source may use while it starts and runs. */
  context() {
    const { page, stage } = this;
    const controller = this;
    return {
      stage,
      align: page.el.align.checked,
      get session() {
        return controller.session;
      },
      onState: (value) => page.setConnection(value),
      onMessage: (text, level) => page.showMessage(text, level),
      openSession: (spec) => this.openSession(spec),
      joinSession: (sid, token) => this.joinSession(sid, token),
    };
  }

  async openSession(spec) {
    const created = await api.createSession(spec, this.page.readConfig());
    this.session = { sid: created.client_id, token: created.token, config: created.config, source: created.source };
    this.afterSession();
    return this.session;
  }

  /** A session someone else created: not ours to delete on Stop. */
  async joinSession(sid, token) {
    this.session = { sid, token, joined: true };
    const stats = await api.stats(this.session);
    this.session.config = stats.config;
    this.session.source = stats.source;
    this.page.showConfig(stats.config);
    this.afterSession();
    return this.session;
  }

  afterSession() {
    const { session, state, page } = this;
    state.session = { sid: session.sid, source: session.source };
    state.config = session.config;
    page.showSession(session.sid);
    this.results = openResults(session, {
      onResult: (r) => this.onResult(r),
      onError: (e) => page.showMessage(`${e.error_code}: ${e.error}`, e.error_code === "SOURCE_RESTORED" ? "info" : "error"),
      onState: (s) => (state.results = s),
      onClosed: (c) => this.onClosed(c),
      onEvent: (e) => this.scene.addEvent(e),
    });
    this.scene.attach(session);
    this.panel.follow(session);
  }

  onResult(result) {
    this.state.resultsReceived += 1;
    this.state.lastResult = result;
    this.panel.resultArrived();
    this.stage.view?.addResult(result);
  }

  async onClosed(closed) {
    this.page.showMessage(`Session ended: ${closed.error || closed.error_code}`, "info");
    await this.stop({ keepSession: true });
  }

  /** Zones and lines were saved (scene.js): the config it returned is the session's now. */
  configSaved(config) {
    if (this.session) this.session.config = this.state.config = config;
  }

  async patch(changes) {
    if (!this.session) return;
    try {
      const out = await api.patchConfig(this.session, changes);
      this.session.config = this.state.config = out.config;
      this.scene.setConfig(out.config);
      const analysisFps = changes.fps_limit;
      if (analysisFps) this.source?.setFps(analysisFps);
      this.source?.refresh();
    } catch (err) {
      this.page.showMessage(`Settings not applied: ${err.message}`, "error");
    }
  }

  /** For tests and devtools: the camera video's decoded-frame count (RTCPeerConnection getStats). */
  framesDecoded() {
    return this.source?.framesDecoded?.() ?? Promise.resolve(0);
  }

  async stop({ keepSession = false } = {}) {
    this.panel.unfollow();
    this.scene.detach();
    this.results?.close();
    this.source?.stop();
    this.stage.clear();
    const ending = this.session;
    Object.assign(this, { results: null, source: null, session: null });
    this.page.setRunning(false);
    if (ending && !keepSession && !ending.joined) await api.deleteSession(ending).catch(() => {});
    this.page.setConnection("idle");
  }
}
