"""From an untrusted session source to something safe to hand to OpenCV.

A session's `source.url` was typed by an API client. Before any capture code
sees it, `resolve_target` applies `shared.urls`' policy (the gateway already
did at creation, but the record may be older than the policy, or written by
something else) and turns it into a `CaptureTarget`: a checked network URL, a
resolved file path inside the allowed roots, or a V4L2 index. `display` is
the only form of the source that may reach a log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared.errors import InvalidSourceURL
from shared.sessions import SourceSpec
from shared.urls import SourcePolicy, check_source, redact_url

TargetKind = Literal["network", "file", "usb"]


@dataclass(frozen=True, slots=True)
class CaptureTarget:
    """A validated source: exactly one of `url`, `path`, `device` is set, per `kind`."""

    kind: TargetKind
    source_type: str
    display: str
    loop: bool = False
    url: str | None = field(default=None, repr=False)  # may hold a password: never in a repr or log
    path: Path | None = None
    device: int | None = None


def resolve_target(spec: SourceSpec, policy: SourcePolicy) -> CaptureTarget:
    """Police `spec` and describe how to open it; raises `InvalidSourceURL`."""
    if not spec.pulled or not spec.url:
        raise InvalidSourceURL(f"a {spec.type} source is not pulled by ingest or has no url")
    checked = check_source(spec.type, spec.url, policy)
    if isinstance(checked, Path):
        return CaptureTarget("file", spec.type, f"file:{checked}", loop=spec.loop, path=checked)
    if isinstance(checked, int):
        return CaptureTarget("usb", spec.type, f"usb:{checked}", loop=False, device=checked)
    # Plain rtsp is pinned to the checked address (no DNS rebinding); see shared.urls for http/tls.
    url = checked.pinned_url() if checked.scheme == "rtsp" else spec.url
    return CaptureTarget("network", spec.type, redact_url(spec.url), loop=spec.loop, url=url)
