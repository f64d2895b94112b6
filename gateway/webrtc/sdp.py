"""Cheap checks of a browser's SDP offer before it crosses NATS.

An offer is untrusted text that ends up in aiortc's parser on an ingest
instance. The gateway refuses anything that is obviously not a WebRTC video
offer (wrong type, oversized, binary junk, no video m-line, no ICE or DTLS
credentials) with 400 `INVALID_SDP`, so hostile input costs one linear scan
here and never reaches ingest. This is not a full parser: ingest still
rejects what aiortc cannot read, and says so with the same code.
"""

from __future__ import annotations

import re

from shared.errors import InvalidSdp
from shared.webrtc import MAX_SDP_BYTES

MAX_LINES = 2000
MAX_MEDIA = 16
_LINE = re.compile(r"^[a-z]=[\x20-\x7e\t]*$")
_VIDEO = re.compile(r"^m=video [0-9]{1,5}(/[0-9]+)? [A-Z/]*RTP[A-Z/]* [0-9 ]+$")


class InvalidOffer(InvalidSdp):
    """Why an offer was refused (the message is safe to show to the client): 400 `INVALID_SDP`."""


def check_offer(sdp: str, kind: str) -> str:
    """Return the offer normalised to CRLF line ends, or raise `InvalidOffer`."""
    if kind != "offer":
        raise InvalidOffer(f'type must be "offer", not {kind[:20]!r}')
    if len(sdp) > MAX_SDP_BYTES or len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise InvalidOffer(f"SDP larger than {MAX_SDP_BYTES} bytes")
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    if not lines or lines[0] != "v=0":
        raise InvalidOffer("SDP must start with v=0")
    if len(lines) > MAX_LINES:
        raise InvalidOffer(f"SDP has more than {MAX_LINES} lines")
    bad = next((n for n, line in enumerate(lines, 1) if not _LINE.match(line)), None)
    if bad is not None:
        raise InvalidOffer(f"SDP line {bad} is not of the form x=value (printable ASCII)")
    _check_media(lines)
    return "\r\n".join(lines) + "\r\n"


def _check_media(lines: list[str]) -> None:
    media = [line for line in lines if line.startswith("m=")]
    if len(media) > MAX_MEDIA:
        raise InvalidOffer(f"SDP has more than {MAX_MEDIA} media sections")
    if not any(_VIDEO.match(line) for line in media):
        raise InvalidOffer("SDP offers no RTP video (m=video) section")
    for attribute in ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:"):
        if not any(line.startswith(attribute) for line in lines):
            raise InvalidOffer(f"SDP lacks {attribute.rstrip(':')}")
