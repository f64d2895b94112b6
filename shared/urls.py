"""Camera URLs are untrusted input: redact them for display, police them for use.

`redact_url` is what every log line and API response shows
(`rtsp://user:***@host/path`). `check_source_url` is the allow-list applied by
the gateway when a session is created and again by ingest before OpenCV/FFmpeg
ever sees the string: only known schemes, no FFmpeg pseudo-protocols, and no
link-local or cloud-metadata hosts unless the deployment explicitly allows them.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit, urlunsplit

from shared.errors import InvalidSourceURL

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"})
_FORBIDDEN_CHARS = ("|", "\n", "\r", "\x00", " ")


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
