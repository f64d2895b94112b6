"""Docker HEALTHCHECK for the one Sightwire image, whichever component it runs.

The image runs `sightwire gateway`, `sightwire ingest` or `sightwire worker ...`;
Docker gives a single HEALTHCHECK for all of them, so this script reads the
container's main command line to decide what "healthy" means:
- gateway: `GET /stream/health` answers 200 (liveness of the API process);
- ingest and workers: their Prometheus endpoint on SIGHTWIRE_METRICS_PORT
  answers 200 (the process is up and serving); with metrics off (port 0) there
  is nothing to ask, and a running process counts as healthy.
Standard library only: it runs in the slim image with no extra packages.
Kubernetes does not use it: deploy/k8s declares probes on the same endpoints.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

TIMEOUT_S = 4.0


def main_command() -> list[str]:
    """argv of PID 1 (with `init: true`, docker-init's argv still holds the command)."""
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def health_url(argv: list[str], env: dict[str, str]) -> str | None:
    if "gateway" in argv:
        return f"http://127.0.0.1:{env.get('SIGHTWIRE_PORT', '8080')}/stream/health"
    metrics_port = env.get("SIGHTWIRE_METRICS_PORT", "0")
    if metrics_port not in ("", "0"):
        return f"http://127.0.0.1:{metrics_port}/metrics"
    return None


def probe(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 - fixed http://127.0.0.1 URL
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> int:
    url = health_url(main_command(), dict(os.environ))
    return 0 if url is None or probe(url) else 1


if __name__ == "__main__":
    sys.exit(main())
