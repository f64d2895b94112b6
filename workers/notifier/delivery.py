"""One webhook POST: policed URL, pinned address, signed body, bounded time, no redirects.

The URL is checked by the same policy as camera URLs right before sending, and the request goes
to the address that check resolved (the Host header and TLS server name stay the URL's host), so
a DNS answer changed after the check cannot point the POST at a refused address. Redirects are
never followed (a 3xx is a failed attempt), proxies from the environment are ignored, and the
response body is never read, so a hostile receiver can cost us at most `timeout_s`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import SplitResult, urlunsplit

import httpx

from shared.errors import InvalidSourceURL
from shared.eventconfig import Webhook
from shared.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, PolicedURL, police_webhook_url, signature

USER_AGENT = "sightwire-notifier/1"


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one POST: ok, or why not (a short reason for logs and metrics)."""

    ok: bool
    reason: str


def new_client(timeout_s: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
    )


def pinned_url(policed: PolicedURL) -> str:
    """The URL with its host replaced by the resolved address (port kept)."""
    parts = policed.parts
    assert policed.address is not None
    host = f"[{policed.address}]" if ":" in policed.address else policed.address
    return urlunsplit(SplitResult(parts.scheme, f"{host}:{policed.port}", parts.path or "/", parts.query, ""))


def host_header(parts: SplitResult) -> str:
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port is not None else host


async def post_event(
    client: httpx.AsyncClient,
    hook: Webhook,
    body: bytes,
    event_id: str,
    *,
    timeout_s: float,
    allow_link_local: bool,
) -> Attempt:
    """POST `body` to `hook`; never raises for a receiver's fault."""
    try:
        policed = await asyncio.to_thread(police_webhook_url, hook.url, allow_link_local=allow_link_local)
    except InvalidSourceURL:
        return Attempt(False, "refused")
    if policed.address is None:
        return Attempt(False, "unresolved")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Host": host_header(policed.parts),
        EVENT_ID_HEADER: event_id,
    }
    if hook.secret is not None:
        headers[SIGNATURE_HEADER] = signature(hook.secret.get_secret_value(), body)
    extensions = {"sni_hostname": policed.parts.hostname} if policed.parts.scheme.lower() == "https" else {}
    try:
        async with asyncio.timeout(timeout_s):
            request = client.build_request("POST", pinned_url(policed), content=body, headers=headers)
            request.extensions.update(extensions)
            response = await client.send(request, stream=True)
            await response.aclose()  # the body is never read
    except TimeoutError:
        return Attempt(False, "timeout")
    except httpx.HTTPError as exc:
        return Attempt(False, type(exc).__name__)
    if 200 <= response.status_code < 300:
        return Attempt(True, f"http_{response.status_code}")
    return Attempt(False, f"http_{response.status_code}")
