"""The gateway's cheap SDP screen: a real Chrome offer passes, junk is refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.webrtc.sdp import InvalidOffer, check_offer

CHROME_OFFER = (Path(__file__).parent / "data" / "chrome_offer.sdp").read_text()


def test_a_real_chrome_offer_passes_with_crlf_line_ends() -> None:
    checked = check_offer(CHROME_OFFER.replace("\r\n", "\n"), "offer")
    assert checked.startswith("v=0\r\n") and checked.endswith("\r\n") and "\n" not in checked.replace("\r\n", "")
    assert "m=video" in checked


@pytest.mark.parametrize(
    ("sdp", "kind", "reason"),
    [
        (CHROME_OFFER, "answer", "type"),
        ("", "offer", "v=0"),
        ("o=- 1 1 IN IP4 0.0.0.0\r\nv=0\r\n", "offer", "v=0"),
        ("v=0\r\nthis is not sdp\r\n", "offer", "line 2"),
        ("v=0\r\na=\x07bell\r\n", "offer", "line 2"),
        ("v=0\r\na=caf\u00e9\r\n", "offer", "line 2"),
        (CHROME_OFFER.replace("m=video", "m=audio"), "offer", "video"),
        (
            CHROME_OFFER.replace("a=fingerprint", "a=fingerprintx").replace("a=fingerprintx", "a=x"),
            "offer",
            "fingerprint",
        ),
        ("v=0\r\n" + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" * 17, "offer", "media sections"),
        ("v=0\r\n" + "a=x\r\n" * 2001, "offer", "lines"),
        ("v=0\r\n" + "a=" + "x" * 70_000, "offer", "larger"),
    ],
)
def test_junk_is_refused_with_a_reason(sdp: str, kind: str, reason: str) -> None:
    with pytest.raises(InvalidOffer, match=reason):
        check_offer(sdp, kind)
