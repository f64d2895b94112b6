"""CPU and memory per component, sampled with psutil once a second.

Components are found by command line: the processes of `sightwire up`'s tree
(or, for a stack we did not start, every local `sightwire` process), named by
role: gateway, ingest, detector, depth, scene, nats-server, up; plus this
benchmark client itself. CPU is the average over the measured window in
percent of one core (200 = two cores busy); RSS is the peak.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

import psutil

ROLES = ("gateway", "ingest", "up", "bench")


def role_of(cmdline: list[str]) -> str | None:
    """The component a process is, from its command line; None if it is not ours."""
    if not cmdline:
        return None
    exe = os.path.basename(cmdline[0])
    if exe.startswith("nats-server"):
        return "nats"
    args = cmdline[1:]
    if "shared.cli" not in args and not exe.startswith("sightwire"):
        return None
    words = args[args.index("shared.cli") + 1 :] if "shared.cli" in args else args
    if words[:1] == ["worker"] and len(words) > 1:
        return words[1]
    return words[0] if words and words[0] in ROLES else None


def discover(root: int | None) -> dict[psutil.Process, str]:
    """Our processes: the tree under `root`, else every local sightwire/nats-server process."""
    try:
        if root:
            top = psutil.Process(root)
            candidates = [top, *top.children(recursive=True)]
        else:
            candidates = list(psutil.process_iter())
    except psutil.Error:
        candidates = []
    found: dict[psutil.Process, str] = {}
    for proc in candidates:
        try:
            role = role_of(proc.cmdline())
        except psutil.Error:
            continue
        if role is not None:
            found[proc] = role
    found[psutil.Process()] = "bench"
    return found


@dataclass
class Sampler:
    """Per-second CPU % and RSS per role over one window."""

    procs: dict[psutil.Process, str]
    started: float = field(default_factory=time.monotonic)
    timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    rss_peak: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _cpu_start: dict[psutil.Process, float] = field(default_factory=dict)

    def start(self) -> None:
        self.started = time.monotonic()
        for proc in self.procs:
            try:
                self._cpu_start[proc] = sum(proc.cpu_times()[:2])
                proc.cpu_percent(None)
            except psutil.Error:
                continue

    def sample(self) -> None:
        """One point of the timeline (blocking: run it in a thread)."""
        cpu: dict[str, float] = defaultdict(float)
        rss: dict[str, float] = defaultdict(float)
        for proc, role in self.procs.items():
            try:
                cpu[role] += proc.cpu_percent(None)
                rss[role] += proc.memory_info().rss / 2**20
            except psutil.Error:
                continue
        for role, mb in rss.items():
            self.rss_peak[role] = max(self.rss_peak[role], mb)
        self.timeline.append((time.monotonic() - self.started, dict(cpu)))

    def averages(self) -> dict[str, float]:
        """Average CPU % per role since `start` (from CPU times, so no sample is missed)."""
        elapsed = max(1e-6, time.monotonic() - self.started)
        totals: dict[str, float] = defaultdict(float)
        for proc, role in self.procs.items():
            try:
                used = sum(proc.cpu_times()[:2]) - self._cpu_start.get(proc, 0.0)
            except psutil.Error:
                continue
            totals[role] += 100.0 * used / elapsed
        return {role: round(v, 1) for role, v in sorted(totals.items())}
