"""Webhook URLs and signatures: the rules the gateway (on config write) and the notifier (on send) share.

A webhook URL is a URL an API client asks *our* servers to call, so it gets the same address
policy as a camera URL (`shared.urls.check_network_url`: no link-local or cloud-metadata hosts
unless the deployment allows them). That call lives here, once. The notifier calls
`police_webhook_url` again right before each POST and connects to the address it returns
(pinned), so a DNS answer that changed since the config was written cannot redirect a delivery.

Signature: `X-Sightwire-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import SplitResult

from shared.urls import WEBHOOK_SCHEMES, UrlPolicy, check_url

SIGNATURE_HEADER = "X-Sightwire-Signature"
EVENT_ID_HEADER = "X-Sightwire-Event-Id"


@dataclass(frozen=True, slots=True)
class PolicedURL:
    """A webhook URL that passed the policy, with the address to connect to."""

    parts: SplitResult
    address: str | None  # None: the host did not resolve now (the send fails and is retried)

    @property
    def port(self) -> int:
        return self.parts.port or (443 if self.parts.scheme.lower() == "https" else 80)


def police_webhook_url(url: str, *, allow_link_local: bool = False, allow_unresolved: bool = False) -> PolicedURL:
    """Apply the camera-URL policy to a webhook URL; raise `InvalidSourceURL` with the reason.

    Every address the host resolves to must pass (`shared.urls.check_url`); the first is the
    one to connect to. A host that does not resolve is refused unless `allow_unresolved`
    (then `address` is None). Blocking (DNS): call it in a thread from async code.
    """
    policy = UrlPolicy(allow_link_local=allow_link_local, allow_unresolved=allow_unresolved)
    checked = check_url(url, policy, WEBHOOK_SCHEMES)
    return PolicedURL(checked.parts, str(checked.pinned) if checked.pinned is not None else None)


def signature(secret: str, body: bytes) -> str:
    """The value of `X-Sightwire-Signature` for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: constant-time compare of the header with the expected signature."""
    return hmac.compare_digest(signature(secret, body), header)
