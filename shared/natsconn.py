"""Connecting to NATS with the deployment's authentication.

One function builds every connection so that user/password, token, NKEY,
`.creds` files and TLS work the same for all services. Server URLs are logged
only in their redacted form.

While the broker is away, reconnects back off exponentially (from
`nats_reconnect_min_wait_s` to `nats_reconnect_max_wait_s`, with jitter,
least-tried server first), and the log says so once per state change
("unreachable", then "reconnected after N attempts"), not once per attempt:
a broker restart used to print a connect error every 0.5 s from every
process, forever (issue 13).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

from nats import errors as nats_errors
from nats.aio.client import Client as NATS
from nats.aio.client import Server

from shared.settings import NatsSettings
from shared.urls import redact_url

log = logging.getLogger(__name__)


def server_list(settings: NatsSettings) -> list[str]:
    return [u.strip() for u in settings.nats_url.split(",") if u.strip()]


def _tls_context(settings: NatsSettings) -> ssl.SSLContext | None:
    if not (settings.nats_tls_ca or settings.nats_tls_cert):
        return None
    ctx = ssl.create_default_context(cafile=str(settings.nats_tls_ca) if settings.nats_tls_ca else None)
    if settings.nats_tls_cert and settings.nats_tls_key:
        ctx.load_cert_chain(str(settings.nats_tls_cert), str(settings.nats_tls_key))
    return ctx


def backoff_s(attempts: int, min_s: float, max_s: float, jitter: float = 0.2) -> float:
    """Delay before reconnect attempt number `attempts` + 1: doubling from min_s, capped at max_s, +-jitter."""
    base = min(max_s, min_s * 2 ** min(attempts, 30))
    return base * random.uniform(1 - jitter, 1 + jitter) if attempts else min_s


class ReconnectPolicy:
    """nats-py `reconnect_to_server_handler`: least-tried server first, after an exponential delay."""

    def __init__(self, min_s: float, max_s: float) -> None:
        self.min_s, self.max_s = min_s, max_s

    def __call__(self, servers: list[Server], _info: dict[str, Any]) -> tuple[Server | None, float]:
        chosen = min(servers, key=lambda s: s.reconnects)
        return chosen, backoff_s(chosen.reconnects, self.min_s, self.max_s)


LinkListener = Callable[[bool], None]
# Errors that mean "the connection broke": they come just before the disconnect callback.
_LINK_ERRORS = (OSError, nats_errors.UnexpectedEOF, nats_errors.StaleConnectionError, asyncio.TimeoutError)


class LinkState:
    """Logs NATS connectivity once per change of state, with how long and how many attempts it took.

    `listeners` are called with False when the link is lost (not when we close
    it) and True when it is back: e.g. the gateway tells its viewers
    "UNAVAILABLE" and then resumes them.
    """

    def __init__(self, shown: str, listeners: list[LinkListener] | None = None) -> None:
        self.shown = shown
        self.down_since: float | None = None
        self.attempts = 0
        self.listeners = listeners if listeners is not None else []

    def _tell(self, up: bool) -> None:
        for listener in self.listeners:
            try:
                listener(up)
            except Exception:  # a listener's bug must not break reconnecting
                log.exception("nats link listener failed")

    def lost(self, closing: bool) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.attempts = 0
            if closing:
                log.info("nats disconnected", extra={"servers": self.shown})
                return
            log.warning("nats disconnected, reconnecting with backoff", extra={"servers": self.shown})
            self._tell(False)

    def failed(self, exc: Exception) -> None:
        """One failed (re)connect attempt, or the connection error that preceded the disconnect: DEBUG only."""
        self.attempts += 1
        log.debug("nats reconnect attempt failed", extra={"attempt": self.attempts, "error": str(exc)})

    def back(self) -> None:
        down = time.monotonic() - self.down_since if self.down_since is not None else 0.0
        log.info(
            "nats reconnected",
            extra={"servers": self.shown, "down_s": round(down, 2), "failed_attempts": self.attempts},
        )
        self.down_since, self.attempts = None, 0
        self._tell(True)


def connect_options(settings: NatsSettings, name: str) -> dict[str, object]:
    """Keyword arguments for `nats.connect`, from settings alone."""
    opts: dict[str, object] = {
        "servers": server_list(settings),
        "name": name,
        "connect_timeout": settings.nats_connect_timeout_s,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": settings.nats_reconnect_min_wait_s,
        "reconnect_to_server_handler": ReconnectPolicy(
            settings.nats_reconnect_min_wait_s, settings.nats_reconnect_max_wait_s
        ),
    }
    if settings.nats_user:
        opts["user"] = settings.nats_user
    if settings.nats_password:
        opts["password"] = settings.nats_password.get_secret_value()
    if settings.nats_token:
        opts["token"] = settings.nats_token.get_secret_value()
    if settings.nats_creds_file:
        opts["user_credentials"] = str(settings.nats_creds_file)
    if settings.nats_nkey_seed_file:
        opts["nkeys_seed"] = str(settings.nats_nkey_seed_file)
    tls = _tls_context(settings)
    if tls is not None:
        opts["tls"] = tls
    return opts


async def connect(settings: NatsSettings, name: str, on_link: LinkListener | None = None) -> NATS:
    """Connect, logging connection changes without credentials; `on_link(up)` hears of each change."""
    shown = ", ".join(redact_url(u) for u in server_list(settings))
    state = LinkState(shown, [on_link] if on_link is not None else None)
    nc = NATS()

    async def on_error(exc: Exception) -> None:
        if nc.is_reconnecting or state.down_since is not None or isinstance(exc, _LINK_ERRORS):
            state.failed(exc)  # the link's state changes are logged by on_disconnect / on_reconnect
        else:
            log.warning("nats error", extra={"servers": shown, "error": str(exc)})

    async def on_disconnect() -> None:
        state.lost(closing=nc.is_closed or nc.is_draining)

    async def on_reconnect() -> None:
        state.back()

    await nc.connect(
        **connect_options(settings, name),  # type: ignore[arg-type]
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
    log.info("nats connected", extra={"servers": shown, "client": name})
    return nc


async def drain_quietly(nc: NATS, timeout_s: float) -> None:
    """Drain (flush pending publishes and acks) then close; idempotent, bounded."""
    if nc.is_closed:
        return
    try:
        async with asyncio.timeout(timeout_s):
            await nc.drain()
    except Exception as exc:  # drain on a broken connection: close it anyway
        log.warning("nats drain failed", extra={"error": repr(exc)})
    if not nc.is_closed:
        try:
            await nc.close()
        except Exception as exc:  # the broker is gone (flushing into a dead socket): closed is closed
            log.warning("nats close failed", extra={"error": repr(exc)})
