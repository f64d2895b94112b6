"""ICE configuration of ingest's peer connections, from settings only.

Two things must never be left to library defaults here:
- aiortc falls back to Google's public STUN server when given no ICE server
  list; we always pass the operator's list (possibly empty), so a deployment
  without STUN sends nothing off the machine.
- aioice offers every non-loopback address of the host and never 127.0.0.1,
  and it has no per-connection option to choose (aiortc/aioice#2). Its one
  seam is the module function `aioice.ice.get_host_addresses`, which we route
  through `webrtc_host_addresses` when that setting is non-empty: an operator
  pins the media address on a multi-homed host, and a test inside a network
  namespace with only `lo` uses 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

from shared.webrtc import IceServer

_DEFAULT_HOST_ADDRESSES = aioice.ice.get_host_addresses


def rtc_configuration(servers: Sequence[Any]) -> RTCConfiguration:
    """An aiortc configuration with exactly the configured servers (none => host candidates only)."""
    return RTCConfiguration(iceServers=[_rtc_server(IceServer.model_validate(_as_mapping(s))) for s in servers])


def _as_mapping(server: Any) -> Any:
    """Settings may hold `IceServer` models, dicts or bare URL strings."""
    if isinstance(server, IceServer):
        return server.model_dump()
    if isinstance(server, str):
        return {"urls": [server]}
    return server


def _rtc_server(server: IceServer) -> RTCIceServer:
    credential = server.credential.get_secret_value() if server.credential else None
    return RTCIceServer(urls=list(server.urls), username=server.username, credential=credential)


def check_addresses(addresses: Sequence[str]) -> list[str]:
    """Validate literal IP addresses (a typo must fail at start-up, not at the first call)."""
    return [str(ipaddress.ip_address(a.strip())) for a in addresses if a.strip()]


def use_host_addresses(addresses: Sequence[str]) -> None:
    """Offer host candidates on exactly `addresses`; an empty list restores aioice's own choice."""
    pinned = check_addresses(addresses)
    if not pinned:
        aioice.ice.get_host_addresses = _DEFAULT_HOST_ADDRESSES
        return

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in pinned if (use_ipv4 and ":" not in a) or (use_ipv6 and ":" in a)]

    aioice.ice.get_host_addresses = configured
