"""The SSRF policy of shared.urls: every spelling of a forbidden address is refused.

No network: hosts are IP literals, or names answered by a resolver injected
into the policy (a small in-memory fake of our own `Resolver` interface).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from shared.errors import InvalidSourceURL
from shared.urls import SourcePolicy, UrlPolicy, check_source, check_url, parse_ipv4, redact_url

NAMES: dict[str, list[str]] = {
    "cam.lan": ["192.168.1.20"],
    "dual.lan": ["192.168.1.21", "fe80::1"],  # one bad address refuses the name
    "rebind.lan": ["10.0.0.9", "169.254.169.254"],
    "v6meta.lan": ["fd00:ec2::254"],
    "mapped.lan": ["::ffff:169.254.169.254"],
    "cam6.lan": ["2001:db8::20"],
}


def fake_resolver(host: str) -> Sequence[str]:
    return NAMES.get(host, [])


POLICY = UrlPolicy(resolver=fake_resolver)

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6 (the hole of issue 13)
    "http://[::ffff:a9fe:a9fe]/",  # the same, in hex
    "http://[::169.254.169.254]/",  # IPv4-compatible IPv6
    "http://[64:ff9b::169.254.169.254]/",  # NAT64
    "http://[64:ff9b:1::a9fe:a9fe]/",  # local-use NAT64
    "http://[2002:a9fe:a9fe::1]/",  # 6to4
    "http://[fd00:ec2::254]/",  # AWS IMDS over IPv6
    "http://[fe80::1]/cam",
    "http://[fe80::1%25eth0]/cam",
    "http://169.254.169.254.:80/",  # trailing dot
    "http://169.254.169.254../",
    "http://2852039166/",  # decimal
    "http://0xa9fea9fe/",  # hex
    "http://0251.0376.0251.0376/",  # octal
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://169.254.43518/",  # short form
    "http://169.16689662/",
    "http://100.100.100.200/",  # Alibaba metadata
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata.google.internal./computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL/",
    "http://0.0.0.0:8080/",  # unspecified
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "rtsp://dual.lan/cam",
    "rtsp://rebind.lan/cam",
    "http://v6meta.lan/",
    "http://mapped.lan/",
    "http://nowhere.invalid/",  # does not resolve
    "file:///etc/passwd",
    "http://127.0.0.1/a|b",
    "http://127.0.0.1\\@169.254.169.254/",
]

ACCEPTED = [
    "rtsp://127.0.0.1:8554/cam",
    "rtsp://127.1:8554/cam",  # short loopback: allowed like 127.0.0.1
    "http://10.0.0.5/video.mp4",
    "http://[::1]:8080/x",
    "http://[2001:db8::20]/x",
    "rtsp://cam.lan/live",
    "rtsp://cam.lan./live",
    "http://cam6.lan/x",
    "https://user:pw@192.168.1.20/x",
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused(url: str) -> None:
    with pytest.raises(InvalidSourceURL):
        check_url(url, POLICY)


@pytest.mark.parametrize("url", ACCEPTED)
def test_accepted(url: str) -> None:
    checked = check_url(url, POLICY)
    assert checked.url == url and checked.addresses


def test_every_resolved_address_is_kept_and_the_first_pinned() -> None:
    checked = check_url("rtsp://admin:pw@cam.lan:8554/live?x=1", POLICY)
    assert [str(a) for a in checked.addresses] == ["192.168.1.20"]
    assert checked.pinned_url() == "rtsp://admin:pw@192.168.1.20:8554/live?x=1"
    v6 = check_url("rtsp://cam6.lan/live", POLICY)
    assert v6.pinned_url() == "rtsp://[2001:db8::20]/live"


def test_unresolved_only_when_allowed() -> None:
    checked = check_url("rtsp://nowhere.invalid/cam", UrlPolicy(allow_unresolved=True, resolver=fake_resolver))
    assert checked.pinned is None and checked.pinned_url() == "rtsp://nowhere.invalid/cam"


def test_link_local_only_when_allowed() -> None:
    allowed = UrlPolicy(allow_link_local=True, resolver=fake_resolver)
    assert check_url("http://[::ffff:169.254.169.254]/", allowed).pinned is not None
    with pytest.raises(InvalidSourceURL):  # multicast is never a camera
        check_url("http://224.0.0.1/", allowed)


def test_source_policy_applies_the_resolver_and_the_scheme() -> None:
    policy = SourcePolicy(resolver=fake_resolver)
    checked = check_source("rtsp", "rtsp://cam.lan/x", policy)
    assert not isinstance(checked, (int, str)) and str(getattr(checked, "pinned", "")) == "192.168.1.20"
    with pytest.raises(InvalidSourceURL):
        check_source("rtsp", "http://cam.lan/x", policy)
    with pytest.raises(InvalidSourceURL):
        check_source("http", "http://rebind.lan/x", policy)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("10.0x10.010.1", "10.16.8.1"),
        ("deadbeef", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("09.1.1.1", None),
        ("1.2.3.256", None),
    ],
)
def test_ipv4_forms(text: str, expected: str | None) -> None:
    parsed = parse_ipv4(text)
    assert (str(parsed) if parsed else None) == expected


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://cam/live?password=hunter2&ch=1", "rtsp://cam/live?password=***&ch=1"),
        ("rtsp://u:p@cam/live?PWD=x", "rtsp://u:***@cam/live?PWD=***"),
        ("http://cam/snap.cgi?user=admin&pass=s3cret", "http://cam/snap.cgi?user=admin&pass=***"),
        ("http://cam/x?token=abc", "http://cam/x?token=***"),
        ("http://cam/x?a=1", "http://cam/x?a=1"),
    ],
)
def test_query_secrets_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown
