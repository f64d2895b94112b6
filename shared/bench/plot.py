"""`--plot FILE.png`: latency over time and CPU per component over time (matplotlib, optional extra)."""

from __future__ import annotations

from pathlib import Path


def plot(path: Path, latency: list[tuple[float, float]], cpu: list[tuple[float, dict[str, float]]], title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib: pip install 'sightwire[plot]'") from exc
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    if latency:
        xs, ys = zip(*latency, strict=True)
        top.plot(xs, ys, ".", markersize=2)
    top.set_ylabel("capture -> client (ms)")
    top.set_title(title)
    roles = sorted({role for _, sample in cpu for role in sample})
    for role in roles:
        bottom.plot([t for t, _ in cpu], [sample.get(role, 0.0) for _, sample in cpu], label=role)
    bottom.set_ylabel("CPU % (100 = one core)")
    bottom.set_xlabel("seconds")
    if roles:
        bottom.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
