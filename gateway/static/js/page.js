// The page's side panel: the source form (built from the registry of sources),
// the controls, the connection pill and the message line. Only this module
// knows their ids; the rest of the page asks it to read or show things.

const $ = (id) => document.getElementById(id);

export class Page {
  constructor(state) {
    this.state = state;
    this.el = {
      form: $("source-form"), align: $("align"), start: $("start"), stop: $("stop"),
      controls: $("controls"), fps: $("fps"), conf: $("conf"), depth: $("depth"), classes: $("classes"),
      conn: $("conn"), sid: $("session-id"), message: $("message"),
    };
  }

  /** One radio per source, and each source's own inputs, shown while it is chosen. */
  renderSources(sources) {
    const radios = sources.map((s, i) => {
      const input = Object.assign(document.createElement("input"), { type: "radio", name: "source", value: s.kind, checked: !i });
      const label = document.createElement("label");
      label.append(input, ` ${s.label}`);
      return label;
    });
    $("source-kind").replaceChildren(...radios);
    const fields = sources.filter((s) => s.fields).flatMap((s) => {
      const template = document.createElement("template");
      template.innerHTML = s.fields;
      const nodes = [...template.content.children];
      for (const node of nodes) node.dataset.source = s.kind;
      return nodes;
    });
    $("source-fields").replaceChildren(...fields);
    this.showChosenFields();
  }

  chosenKind() {
    return this.el.form.querySelector("input[name=source]:checked").value;
  }

  choose(kind) {
    const radio = this.el.form.querySelector(`input[name=source][value="${CSS.escape(kind)}"]`);
    if (radio) radio.checked = true;
    this.showChosenFields();
  }

  showChosenFields() {
    const kind = this.chosenKind();
    this.el.form.dataset.kind = kind;
    for (const node of this.el.form.querySelectorAll("[data-source]")) node.hidden = node.dataset.source !== kind;
  }

  /** The session config the controls describe; `fps_limit` is the session's analysis rate. */
  readConfig() {
    const { el } = this;
    return {
      fps_limit: Number(el.fps.value),
      confidence_threshold: Number(el.conf.value),
      enable_depth: el.depth.checked,
      classes: this.classes(),
    };
  }

  classes() {
    const classes = this.el.classes.value.split(",").map((c) => c.trim()).filter(Boolean);
    return classes.length ? classes : null;
  }

  showConfig(config) {
    const { el } = this;
    el.fps.value = config.fps_limit;
    el.conf.value = config.confidence_threshold;
    el.depth.checked = config.enable_depth;
    el.classes.value = (config.classes || []).join(", ");
    this.syncOutputs();
  }

  syncOutputs() {
    $("fps-out").textContent = this.el.fps.value;
    $("conf-out").textContent = Number(this.el.conf.value).toFixed(2);
  }

  setConnection(value) {
    this.state.connection = value;
    this.el.conn.textContent = value;
    this.el.conn.dataset.state = value;
  }

  setRunning(running) {
    this.el.start.disabled = running;
    this.el.stop.disabled = !running;
  }

  showSession(sid) {
    this.el.sid.textContent = `session ${sid}`;
  }

  showMessage(text, level = "info") {
    const { message } = this.el;
    message.hidden = !text;
    message.textContent = text || "";
    message.dataset.level = level;
    if (text && level === "error") this.state.errors.push(text);
  }

  /** The classes filter suggests the class names the running detector reports. */
  suggestClassNames(names) {
    $("class-names").replaceChildren(...[...names].map((name) => Object.assign(document.createElement("option"), { value: name })));
  }
}
