// Rolling numbers for the stats panel: results per second over a short window
// and percentiles of capture-to-screen latency over the last few hundred
// frames drawn. Plain arrays: a few hundred numbers, sorted twice a second.

export class Rolling {
  constructor(size = 300) {
    this.size = size;
    this.values = [];
  }
  add(value) {
    this.values.push(value);
    if (this.values.length > this.size) this.values.shift();
  }
  percentile(p) {
    if (!this.values.length) return null;
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }
}

export class RateMeter {
  constructor(windowMs = 3000) {
    this.windowMs = windowMs;
    this.times = [];
  }
  tick(now = performance.now()) {
    this.times.push(now);
    this.trim(now);
  }
  trim(now) {
    while (this.times.length && now - this.times[0] > this.windowMs) this.times.shift();
  }
  rate(now = performance.now()) {
    this.trim(now);
    if (this.times.length < 2) return 0;
    return (this.times.length - 1) / ((now - this.times[0]) / 1000);
  }
}

export const fmtMs = (v) => (v == null ? "–" : `${Math.round(v)} ms`);
