"""Camera URLs are untrusted input: redact them for display, police them for use.

`redact_url` is what every log line and API response shows
(`rtsp://user:***@host/path`). `check_source_url` is the allow-list applied by
the gateway when a session is created and again by ingest before OpenCV/FFmpeg
ever sees the string: only known schemes, no FFmpeg pseudo-protocols, and no
link-local or cloud-metadata hosts unless the deployment explicitly allows them.

Local sources are policed too, because a session's `url` comes from an API
client: a `file` source must resolve (symlinks followed) inside one of the
operator's `file_source_roots`, and a `usb` source is a bare V4L2 index or
`/dev/videoN`, accepted only where the operator enabled USB cameras.
`SourcePolicy` bundles those settings so that the gateway (at session
creation) and ingest (before opening) apply exactly the same rules.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

from shared.errors import InvalidSourceURL

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"})
_FORBIDDEN_CHARS = ("|", "\n", "\r", "\x00", " ")
_FORBIDDEN_PATH_CHARS = ("|", "\n", "\r", "\x00")
_USB_DEVICE = re.compile(r"^(?:/dev/video)?(\d{1,2})$")


def redact_url(url: str) -> str:
    """Hide the password (and a token-like user) of a URL; never raises."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"***@{host}"
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _resolved_addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []  # unresolvable now: the source will fail and be reported, not a policy question
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _is_metadata(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return addr.is_link_local or str(addr) in {"169.254.169.254", "fd00:ec2::254", "100.100.100.200"}


def check_network_url(url: str, *, allow_link_local: bool = False) -> SplitResult:
    """Validate an rtsp/http(s) camera URL; raise `InvalidSourceURL` with a reason."""
    if any(c in url for c in _FORBIDDEN_CHARS) or len(url) > 2048:
        raise InvalidSourceURL("source URL contains forbidden characters or is too long")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidSourceURL(f"malformed source URL: {exc}") from exc
    if parts.scheme.lower() not in NETWORK_SCHEMES:
        raise InvalidSourceURL(f"scheme {parts.scheme!r} is not allowed (use rtsp, rtsps, http, https)")
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidSourceURL("source URL has no host")
    if allow_link_local:
        return parts
    if host in METADATA_HOSTS or any(_is_metadata(a) for a in _resolved_addresses(host)):
        raise InvalidSourceURL("link-local and cloud-metadata addresses are refused")
    return parts


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """What a deployment lets API clients open besides rtsp/http cameras."""

    allow_link_local: bool = False
    file_roots: tuple[Path, ...] = ()
    usb_allowed: bool = False


def check_file_path(url: str, roots: Sequence[Path], *, must_exist: bool = False) -> Path:
    """Resolve a `file` source (`clip.mp4`, `/abs/clip.mp4` or `file:///abs/clip.mp4`) inside `roots`.

    Relative paths are looked up in each root in order (the first that exists
    wins, else the first root). The resolved path, symlinks followed, must lie
    inside a resolved root; no roots means file sources are off.
    """
    if any(c in url for c in _FORBIDDEN_PATH_CHARS) or len(url) > 2048:
        raise InvalidSourceURL("file path contains forbidden characters or is too long")
    raw = url.removeprefix("file://")
    if not raw or "://" in raw or raw.startswith(("file:", "concat:", "subfile:", "pipe:", "data:")):
        raise InvalidSourceURL("a file source must be a plain path")
    if not roots:
        raise InvalidSourceURL("file sources are disabled (no file_source_roots configured)")
    resolved_roots = [Path(r).expanduser().resolve() for r in roots]
    path = _resolve_in_roots(Path(raw).expanduser(), resolved_roots)
    if not any(path.is_relative_to(root) for root in resolved_roots):
        raise InvalidSourceURL("file path is outside the allowed file_source_roots")
    if must_exist and not path.is_file():
        raise InvalidSourceURL("file source does not exist or is not a regular file")
    return path


def _resolve_in_roots(path: Path, roots: list[Path]) -> Path:
    if path.is_absolute():
        return path.resolve()
    candidates = [(root / path).resolve() for root in roots]
    return next((c for c in candidates if c.exists()), candidates[0])


def check_usb_device(url: str, *, allowed: bool) -> int:
    """`0`, `2` or `/dev/video2` -> the V4L2 index; anything else is refused."""
    if not allowed:
        raise InvalidSourceURL("usb sources are disabled on this deployment")
    match = _USB_DEVICE.fullmatch(url.strip())
    if match is None:
        raise InvalidSourceURL("a usb source must be a device index or /dev/videoN")
    return int(match.group(1))


def check_source(kind: str, url: str, policy: SourcePolicy) -> SplitResult | Path | int:
    """Police the `url` of a pulled source of type `kind` (rtsp, http, file, usb)."""
    if kind in ("rtsp", "http"):
        parts = check_network_url(url, allow_link_local=policy.allow_link_local)
        wanted = ("rtsp", "rtsps") if kind == "rtsp" else ("http", "https")
        if parts.scheme.lower() not in wanted:
            raise InvalidSourceURL(f"a {kind} source needs a {' or '.join(wanted)} URL")
        return parts
    if kind == "file":
        return check_file_path(url, policy.file_roots)
    if kind == "usb":
        return check_usb_device(url, allowed=policy.usb_allowed)
    raise InvalidSourceURL(f"source type {kind!r} is not pulled from a URL")
