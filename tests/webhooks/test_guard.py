"""The address guard: classification over many address forms, URL validation, resolution."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trova.errors import AddressRefused, InvalidWebhookUrl
from trova.settings import Settings
from trova.webhooks.guard import refusal_reason, resolve, validate_submitted_url, vet

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.0.0.1": "private",
    "10.255.255.255": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",
    "169.254.0.1": "link-local",
    "100.64.0.1": "CGNAT",
    "100.127.255.254": "CGNAT",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "private",
    "255.255.255.255": "private",
    "240.0.0.1": "private",
    "192.0.2.10": "private",
    "198.18.0.1": "private",
    "::1": "loopback",
    "::": "unspecified",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.1.2.3": "private",
    "::ffff:169.254.169.254": "link-local",
    "::ffff:100.64.0.1": "CGNAT",
    "::ffff:0.0.0.0": "unspecified",
    "64:ff9b::7f00:1": "loopback",
    "64:ff9b::a00:1": "private",
    "64:ff9b::a9fe:a9fe": "link-local",
    "64:ff9b:1::a00:1": "IPv4-translation",
    "2002:7f00:1::1": "loopback",
    "2002:a00:1::": "private",
    "2002:a9fe:a9fe::1": "link-local",
    "::127.0.0.1": "IPv4-translation",
    "::8.8.8.8": "IPv4-translation",
    "2001::1": "IPv4-translation",
    "fe80::1": "link-local",
    "fec0::1": "link-local",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "ff02::1": "multicast",
    "ff0e::1": "multicast",
    "2001:db8::1": "private",
    "100::1": "private",
}

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "172.32.0.1",
    "172.15.255.255",
    "100.128.0.1",
    "100.63.255.255",
    "11.0.0.1",
    "192.169.0.1",
    "169.255.0.1",
    "223.255.255.254",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "2a00:1450:4007:80a::200e",
]

PRIVATE_V4 = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
]


@pytest.mark.parametrize(("address", "kind"), sorted(REFUSED.items()))
def test_non_public_addresses_are_refused_with_their_kind(address: str, kind: str) -> None:
    reason = refusal_reason(ipaddress.ip_address(address))
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def _in(network: str) -> st.SearchStrategy[ipaddress.IPv4Address]:
    net = ipaddress.ip_network(network)
    return st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv4Address)


@given(st.sampled_from(PRIVATE_V4).flatmap(_in))
def test_every_address_of_the_internal_ranges_is_refused(address: ipaddress.IPv4Address) -> None:
    assert refusal_reason(address) is not None


@given(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address))
def test_ipv6_forms_of_an_ipv4_address_share_its_verdict(address: ipaddress.IPv4Address) -> None:
    value = int(address)
    mapped = ipaddress.IPv6Address((0xFFFF << 32) | value)
    nat64 = ipaddress.IPv6Address((0x64FF9B << 96) | value)
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1)
    verdict = refusal_reason(address) is None
    assert [refusal_reason(form) is None for form in (mapped, nat64, sixtofour)] == [verdict] * 3


def _settings(*, allow_http: bool) -> Settings:
    return Settings(webhook_allow_http=allow_http)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "https://example.com",
        "https://EXAMPLE.com:8443/a/b?c=d#e",
        "HTTPS://example.com/x",
        "https://127.0.0.1/hook",
        "https://[2001:db8::1]:8443/x",
        "https://xn--bcher-kva.example/h",
    ],
)
def test_absolute_https_urls_are_accepted_at_submission(url: str) -> None:
    assert validate_submitted_url(url, _settings(allow_http=False)) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "ftp://example.com/",
        "example.com/hook",
        "/hook",
        "https://",
        "https:///path",
        "https://exa mple.com/",
        " https://example.com/",
        "https://user:pw@example.com/",
        "https://example.com:99999/",
        "https://example.com:0/",
        "https://[::1/",
        "javascript:alert(1)",
        "https://example.com/\x7f",
        "https://\x00example.com/",
        "https://example.com:65536/",
        "",
        "https://example.com/" + "a" * 3000,
        None,
        42,
        ["https://example.com"],
    ],
)
def test_anything_else_is_an_invalid_webhook_url(url: object) -> None:
    with pytest.raises(InvalidWebhookUrl) as raised:
        validate_submitted_url(url, _settings(allow_http=False))
    assert raised.value.status_code == 400 and raised.value.message == "Invalid webhook url"


def test_http_is_accepted_only_when_allowed() -> None:
    assert (
        validate_submitted_url("http://example.com/h", _settings(allow_http=True)) == "http://example.com/h"
    )
    with pytest.raises(InvalidWebhookUrl):
        validate_submitted_url("http://example.com/h", _settings(allow_http=False))


async def _resolve(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return await resolve(host, 443)


def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    import asyncio

    addresses = asyncio.run(_resolve("localhost"))
    assert ipaddress.ip_address("127.0.0.1") in addresses or ipaddress.ip_address("::1") in addresses
    with pytest.raises(AddressRefused) as refused:
        vet("localhost", addresses)
    assert "loopback" in refused.value.reason and "TROVA_WEBHOOK_ALLOW_PRIVATE" in refused.value.reason


def test_only_the_public_addresses_of_a_mixed_answer_are_kept() -> None:
    mixed = [ipaddress.ip_address(a) for a in ("127.0.0.1", "8.8.8.8", "10.0.0.1", "2001:4860:4860::8888")]
    assert [str(a) for a in vet("mixed.example", mixed)] == ["8.8.8.8", "2001:4860:4860::8888"]


def test_ip_literals_resolve_to_themselves_without_dns() -> None:
    import asyncio

    assert asyncio.run(_resolve("[::ffff:127.0.0.1]")) == [ipaddress.ip_address("::ffff:127.0.0.1")]
    assert asyncio.run(_resolve("169.254.169.254")) == [ipaddress.ip_address("169.254.169.254")]
