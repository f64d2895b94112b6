"""Camera and webhook URLs are untrusted input: redact them for display, police them for use.

`redact_url` is what every log line and API response shows
(`rtsp://user:***@host/path?password=***`). `check_url` is the SSRF policy
applied by the gateway when a session is created, by ingest again right
before FFmpeg opens a source, and by the webhook sender: only known schemes,
no FFmpeg pseudo-protocols, and no link-local, cloud-metadata, unspecified or
multicast address, whatever spelling the host uses.

Spellings that must not slip through (each is a regression test):
- IPv4 in decimal, octal, hex or short forms (`2852039166`, `0251.0376.0251.0376`,
  `0xa9fea9fe`, `169.254.43518`), which FFmpeg's resolver (inet_aton) accepts;
- IPv6 forms that carry an IPv4 address: mapped `::ffff:a.b.c.d`, compatible
  `::a.b.c.d`, NAT64 `64:ff9b::/96` (and the local-use `64:ff9b:1::/48`),
  6to4 `2002::/16` and Teredo `2001::/32`. On Python 3.11
  `ip_address('::ffff:169.254.169.254').is_link_local` is False, so every
  address is reduced to the IPv4 it reaches before it is judged;
- trailing dots (`169.254.169.254.`, `metadata.google.internal.`);
- names: every address the host resolves to is checked (one bad address
  refuses the URL), and a name that does not resolve is refused unless the
  operator allows it (`allow_unresolved`), because it could resolve to
  anything by the time it is opened.

`CheckedUrl.pinned_url` is the URL with the host replaced by the address that
was checked, so the connection cannot be steered elsewhere by a second DNS
answer (rebinding). Ingest pins plain `rtsp` (RTSP servers do not route by
host name). `http`/`https` and `rtsps` are not pinned: name-based virtual
hosts and TLS need the name, and OpenCV's FFmpeg options are process-wide, so
the original `Host` cannot be passed per capture; for those the check runs
immediately before the open (the remaining window is the DNS TTL race).

Local sources are policed too: a `file` source must resolve (symlinks
followed) inside one of the operator's `file_source_roots`, and a `usb` source
is a bare V4L2 index or `/dev/videoN`, accepted only where USB is enabled.
`SourcePolicy` bundles these settings so that the gateway and ingest apply
exactly the same rules.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from shared.errors import InvalidSourceURL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Sequence[str]]

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
WEBHOOK_SCHEMES = frozenset({"http", "https"})
METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.platformequinix.com",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "fd20:ce::254", "100.100.100.200", "192.0.0.192")
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_FORBIDDEN_CHARS = ("|", "\n", "\r", "\x00", " ", "\t", "\\")
_FORBIDDEN_PATH_CHARS = ("|", "\n", "\r", "\x00")
_USB_DEVICE = re.compile(r"^(?:/dev/video)?(\d{1,2})$")
_IPV4_PART = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_SECRET_PARAMS = frozenset(
    {"password", "passwd", "pwd", "pass", "token", "access_token", "auth", "key", "apikey", "api_key", "secret", "sig"}
)
MAX_URL_CHARS = 2048


def _redact_query(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
        return query
    shown = [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs]
    return urlencode(shown, safe="*/:,")


def redact_url(url: str) -> str:
    """Hide the password (and a token-like user) and secret query values (`?password=`); never raises."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid url>"
    query = _redact_query(parts.query)
    if parts.password is None and parts.username is None:
        return url if query == parts.query else urlunsplit(parts._replace(query=query))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"***@{host}"
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 literal in any form inet_aton accepts (1-4 parts, decimal/octal/hex), else None."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.match(p) for p in parts):
        return None
    try:
        values = [
            int(p, 16) if p.startswith("0x") else int(p, 8) if len(p) > 1 and p[0] == "0" else int(p) for p in parts
        ]
    except ValueError:  # "0x" alone, or 8/9 in an octal part
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(parts)):
        return None
    number = 0
    for v in head:
        number = number << 8 | v
    return ipaddress.IPv4Address(number << 8 * (4 - len(head)) | last)


def parse_host(host: str) -> IPAddress | None:
    """The address a host string spells, in any literal form; None for a name."""
    host = host.lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise InvalidSourceURL("malformed IPv6 address in URL") from exc
    return parse_ipv4(host)


def embedded_ipv4(addr: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(addr, ipaddress.IPv4Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if addr.ipv4_mapped is not None:
        found.append(addr.ipv4_mapped)
    value = int(addr)
    if value >> 32 == 0 and value > 1:  # ::a.b.c.d (deprecated "compatible" form); :: and ::1 excluded
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if any(addr in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if addr.sixtofour is not None:
        found.append(addr.sixtofour)
    if addr.teredo is not None:
        found.extend(addr.teredo)
    return found


def refusal(addr: IPAddress, *, allow_link_local: bool = False) -> str | None:
    """Why `addr` (or an IPv4 it embeds) may not be connected to, or None."""
    for candidate in (addr, *embedded_ipv4(addr)):
        if isinstance(candidate, ipaddress.IPv6Address) and candidate.scope_id:
            return "scoped IPv6 addresses are refused"
        if candidate.is_unspecified or candidate in _THIS_NETWORK:
            return "unspecified addresses are refused"
        if candidate.is_multicast or candidate == ipaddress.IPv4Address("255.255.255.255"):
            return "multicast and broadcast addresses are refused"
        if not allow_link_local and (candidate.is_link_local or candidate in METADATA_ADDRESSES):
            return "link-local and cloud-metadata addresses are refused"
    return None


def system_resolver(host: str) -> list[str]:
    """Every address `host` maps to (IPv4 and IPv6), via getaddrinfo; [] if it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """What outbound URLs an API client may make us open (cameras, webhooks)."""

    allow_link_local: bool = False
    allow_unresolved: bool = False
    resolver: Resolver = field(default=system_resolver, compare=False)


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A URL that passed the policy, with every address its host mapped to when checked."""

    url: str = field(repr=False)  # may hold credentials
    parts: SplitResult = field(repr=False)
    host: str
    addresses: tuple[IPAddress, ...]

    @property
    def scheme(self) -> str:
        return self.parts.scheme.lower()

    @property
    def pinned(self) -> IPAddress | None:
        """The address to connect to (the first checked one); None if unresolved but allowed."""
        return self.addresses[0] if self.addresses else None

    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (credentials, port, path kept)."""
        if self.pinned is None:
            return self.url
        host = f"[{self.pinned}]" if self.pinned.version == 6 else str(self.pinned)
        userinfo, _, _ = self.parts.netloc.rpartition("@")
        port = self.parts.port
        netloc = (f"{userinfo}@" if userinfo else "") + host + (f":{port}" if port is not None else "")
        return urlunsplit(self.parts._replace(netloc=netloc))


def _split(url: str, schemes: frozenset[str]) -> SplitResult:
    if any(c in url for c in _FORBIDDEN_CHARS) or len(url) > MAX_URL_CHARS:
        raise InvalidSourceURL("URL contains forbidden characters or is too long")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidSourceURL(f"malformed URL: {exc}") from exc
    if parts.scheme.lower() not in schemes:
        raise InvalidSourceURL(f"scheme {parts.scheme!r} is not allowed (use {', '.join(sorted(schemes))})")
    return parts


def _addresses(host: str, policy: UrlPolicy) -> tuple[IPAddress, ...]:
    literal = parse_host(host)
    if literal is not None:
        return (literal,)
    if host in METADATA_HOSTS and not policy.allow_link_local:
        raise InvalidSourceURL("link-local and cloud-metadata addresses are refused")
    resolved: list[IPAddress] = []
    for text in policy.resolver(host):
        try:
            resolved.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError as exc:
            raise InvalidSourceURL("host resolved to an unparsable address") from exc
    if not resolved and not policy.allow_unresolved:
        raise InvalidSourceURL(f"host {host!r} does not resolve")
    return tuple(dict.fromkeys(resolved))


def check_url(url: str, policy: UrlPolicy, schemes: frozenset[str] = NETWORK_SCHEMES) -> CheckedUrl:
    """Police an outbound URL; every address its host maps to must pass. Raises `InvalidSourceURL`.

    May block on DNS: call it in a thread from async code.
    """
    parts = _split(url, schemes)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise InvalidSourceURL("URL has no host")
    addresses = _addresses(host, policy)
    for addr in addresses:
        reason = refusal(addr, allow_link_local=policy.allow_link_local)
        if reason is not None:
            raise InvalidSourceURL(reason)
    return CheckedUrl(url=url, parts=parts, host=host, addresses=addresses)


def check_network_url(url: str, *, allow_link_local: bool = False, allow_unresolved: bool = False) -> SplitResult:
    """Validate an rtsp/http(s) camera URL; raise `InvalidSourceURL` with a reason."""
    policy = UrlPolicy(allow_link_local=allow_link_local, allow_unresolved=allow_unresolved)
    return check_url(url, policy).parts


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """What a deployment lets API clients open besides rtsp/http cameras."""

    allow_link_local: bool = False
    file_roots: tuple[Path, ...] = ()
    usb_allowed: bool = False
    allow_unresolved: bool = False
    resolver: Resolver = field(default=system_resolver, compare=False)

    @property
    def urls(self) -> UrlPolicy:
        return UrlPolicy(self.allow_link_local, self.allow_unresolved, self.resolver)


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


def check_source(kind: str, url: str, policy: SourcePolicy) -> CheckedUrl | Path | int:
    """Police the `url` of a pulled source of type `kind` (rtsp, http, file, usb)."""
    if kind in ("rtsp", "http"):
        checked = check_url(url, policy.urls)
        wanted = ("rtsp", "rtsps") if kind == "rtsp" else ("http", "https")
        if checked.scheme not in wanted:
            raise InvalidSourceURL(f"a {kind} source needs a {' or '.join(wanted)} URL")
        return checked
    if kind == "file":
        return check_file_path(url, policy.file_roots)
    if kind == "usb":
        return check_usb_device(url, allowed=policy.usb_allowed)
    raise InvalidSourceURL(f"source type {kind!r} is not pulled from a URL")
