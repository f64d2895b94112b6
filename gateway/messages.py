"""SCENE and EVENTS bodies -> `OutMessage`, parsed once per message for all viewers.

The bodies are the JSON client messages of DESIGN.md section 4 (made once by
the scene stage); the gateway forwards their bytes unchanged and parses them
only to learn the kind, `seq` and capture time (for ordering and lag figures)
and to re-encode for msgpack clients. A large body is parsed in a thread, so
that the event loop never spends long on one message. A body that is not a
client message is logged and counted by the caller, never sent.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.fanout import OutMessage

log = logging.getLogger(__name__)

BIG_BODY = 64 * 1024


async def parse_message(data: bytes, stream_seq: int) -> OutMessage | None:
    """The message for clients, or None (logged) when the body is not one."""
    try:
        if len(data) > BIG_BODY:
            return await asyncio.to_thread(OutMessage.from_json, stream_seq, data)
        return OutMessage.from_json(stream_seq, data)
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        log.warning("unreadable client message", extra={"stream_seq": stream_seq, "error": str(exc)[:200]})
        return None
