"""Connecting to NATS with the deployment's authentication.

One function builds every connection so that user/password, token, NKEY,
`.creds` files and TLS work the same for all services. Server URLs are logged
only in their redacted form.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from nats.aio.client import Client as NATS

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


def connect_options(settings: NatsSettings, name: str) -> dict[str, object]:
    """Keyword arguments for `nats.connect`, from settings alone."""
    opts: dict[str, object] = {
        "servers": server_list(settings),
        "name": name,
        "connect_timeout": settings.nats_connect_timeout_s,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
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


async def connect(settings: NatsSettings, name: str) -> NATS:
    """Connect, logging connection changes without credentials."""
    shown = ", ".join(redact_url(u) for u in server_list(settings))

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", extra={"servers": shown, "error": str(exc)})

    nc = NATS()

    async def on_disconnect() -> None:
        closing = nc.is_closed or nc.is_draining
        log.log(logging.INFO if closing else logging.WARNING, "nats disconnected", extra={"servers": shown})

    async def on_reconnect() -> None:
        log.info("nats reconnected", extra={"servers": shown})

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
        await nc.close()
