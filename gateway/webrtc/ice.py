"""The ICE servers handed to the page, from settings.

STUN entries are public. TURN entries carry credentials, which only the
holder of a session's token receives (the routes that call this are all
session-authorized). With `webrtc_turn_secret` set, TURN credentials are
minted per session with the TURN REST scheme that coturn implements
(`use-auth-secret`): username `<expiry>:<sid>`, password
`base64(HMAC-SHA1(secret, username))`, so no long-lived TURN password ever
reaches a browser and a leaked one expires on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from pydantic import SecretStr

from shared.webrtc import IceServer


def ice_servers_for(
    servers: list[IceServer], sid: str, turn_secret: SecretStr | None, turn_ttl_s: int, now: float | None = None
) -> list[dict[str, Any]]:
    """The page's `RTCIceServer` list for session `sid`."""
    result = []
    for server in servers:
        body = server.public(with_credentials=True)
        if server.is_turn and turn_secret is not None:
            body.update(turn_rest_credentials(turn_secret, sid, turn_ttl_s, now))
        result.append(body)
    return result


def turn_rest_credentials(secret: SecretStr, sid: str, ttl_s: int, now: float | None = None) -> dict[str, str]:
    expiry = int((now if now is not None else time.time()) + ttl_s)
    username = f"{expiry}:{sid}"
    digest = hmac.new(secret.get_secret_value().encode(), username.encode(), hashlib.sha1).digest()
    return {"username": username, "credential": base64.b64encode(digest).decode()}
