"""The address guard: webhook URLs are checked when submitted and again on the address connected to.

At submission a URL must be an absolute ``https://`` URL (``http://`` only with
``TROVA_WEBHOOK_ALLOW_HTTP``). At delivery the host is resolved by Trova itself and only public
addresses are connected to. The check runs inside the HTTP client's network backend, on the very
IP the socket is opened to, and TLS still verifies (and sends SNI for) the hostname: a name that
resolves to a public address when checked and to ``127.0.0.1`` a moment later (DNS rebinding)
cannot slip through, because there is no second resolution. ``TROVA_WEBHOOK_ALLOW_PRIVATE`` lifts
the address check for local setups and tests.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

from trova.errors import AddressRefused, InvalidWebhookUrl
from trova.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_MAX_URL_LENGTH = 2048


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, NAT64, 6to4), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _ipv4_refusal(address: ipaddress.IPv4Address) -> str | None:
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address in _CGNAT:
        return "shared (CGNAT) address"
    if address.is_private:
        return "private address"
    if address.is_reserved or not address.is_global:
        return "reserved address"
    return None


def _ipv6_refusal(address: ipaddress.IPv6Address) -> str | None:
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = _ipv4_refusal(inner)
        return f"{reason} ({inner}) inside an IPv6 address" if reason else None
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    if address in _IPV4_COMPATIBLE or address in _NAT64_LOCAL or address.teredo is not None:
        return "IPv4-translation address"
    if address.is_link_local or address.is_site_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address.is_private:
        return "private address"
    if address.is_reserved or not address.is_global:
        return "reserved address"
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be connected to (``"loopback address"``, …), or None if public."""
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_refusal(address)
    return _ipv6_refusal(address)


def is_public(address: IPAddress) -> bool:
    return refusal_reason(address) is None


def validate_submitted_url(url: object, settings: Settings) -> str:
    """The webhook URL as given, if it is an absolute https URL (http only when allowed).

    Raises :class:`~trova.errors.InvalidWebhookUrl` (400 ``Invalid webhook url``) otherwise. The
    address is not resolved here: that happens at every delivery, where it counts.
    """
    if not isinstance(url, str) or not url or len(url) > _MAX_URL_LENGTH or url != url.strip():
        raise InvalidWebhookUrl()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookUrl() from exc
    allowed = ("https", "http") if settings.webhook_allow_http else ("https",)
    if parts.scheme.lower() not in allowed or not parts.hostname or port == 0:
        raise InvalidWebhookUrl()
    if parts.username is not None or parts.password is not None or any(c.isspace() for c in url):
        raise InvalidWebhookUrl()
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidWebhookUrl() from exc
    return url


def delivery_refusal(url: str, settings: Settings) -> str | None:
    """Why a queued message's URL may not be used now (settings may have changed since), or None."""
    try:
        validate_submitted_url(url, settings)
    except InvalidWebhookUrl:
        if urlsplit(url).scheme.lower() == "http" and not settings.webhook_allow_http:
            return "http:// webhook URLs are refused (TROVA_WEBHOOK_ALLOW_HTTP is off)"
        return "invalid webhook URL"
    return None


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself), de-duplicated, in order."""
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    return list(seen)


def vet(host: str, addresses: Iterable[IPAddress]) -> list[IPAddress]:
    """The public ones among ``addresses``; :class:`AddressRefused` with every reason if none is."""
    addresses = list(addresses)
    public = [address for address in addresses if is_public(address)]
    if public:
        return public
    reasons = "; ".join(f"{address} is a {refusal_reason(address)}" for address in addresses)
    raise AddressRefused(
        f"refused to connect to {host}: {reasons or 'no address'} "
        "(only public addresses are allowed; TROVA_WEBHOOK_ALLOW_PRIVATE=true lifts this)"
    )


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves the host itself and connects only to vetted IPs.

    httpcore then starts TLS on the returned stream with ``server_hostname`` = the URL's host, so
    SNI and certificate verification stay bound to the hostname while the socket goes to the IP
    that was checked.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not self.allow_private:
            addresses = vet(host, addresses)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are never used for webhooks")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
