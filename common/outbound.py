"""Where Vigil may send: the one check for URLs people give it (webhooks, Slack, team chat).

A URL must be https and every address its host resolves to must be public, so a contact
method cannot make Vigil post to itself, its cloud's metadata service or the private
network. Resolved addresses are checked, not the text, so `http://2130706433/` and
`https://0x7f.1/` are the loopback address they are. Operators allow internal receivers
with OUTBOUND_ALLOWED_HOSTS (host names and CIDR networks): those may be private and http.
Delivery checks again right before sending and connects to the address it checked.
"""

import dataclasses
import ipaddress
import socket
import urllib.parse

from django.conf import settings
from django.core.exceptions import ValidationError

ALLOW_LIST_HINT = (
    "Vigil sends only to public addresses; an operator can allow an internal receiver with "
    "OUTBOUND_ALLOWED_HOSTS."
)
PLAIN_HTTP_REFUSED = (
    "Use https://: plain http:// is only for receivers an operator allowed "
    "(OUTBOUND_ALLOWED_HOSTS)."
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits, like IPv4-mapped IPv6.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(ValueError):
    """A URL Vigil will not send to; the message says why, for the person who gave it.

    `unresolved`: the host name did not resolve, so nothing could be checked (a typo, or DNS
    down for a moment); the only refusal a later attempt may get past."""

    def __init__(self, reason: str, *, unresolved: bool = False):
        super().__init__(reason)
        self.unresolved = unresolved


@dataclasses.dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    path: str
    # The checked addresses to connect to, in resolver order; empty: resolve when connecting.
    addresses: tuple[str, ...] = ()


def parse_url(url: str) -> Destination:
    parts = urllib.parse.urlsplit((url or "").strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundRefused("Use an https:// URL.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundRefused("The URL has no host name.")
    try:
        port = parts.port
    except ValueError:
        raise OutboundRefused("The URL's port must be a number from 1 to 65535.") from None
    if port == 0:
        raise OutboundRefused("The URL's port must be a number from 1 to 65535.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(scheme, host, port or (443 if scheme == "https" else 80), path)


def _allow_list():
    names, networks = set(), []
    for entry in settings.OUTBOUND_ALLOWED_HOSTS:
        entry = entry.strip().strip("[]").rstrip(".").lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry)
    return names, networks


def _resolve(host: str, port: int) -> list[tuple[str, Address]]:
    """(address to connect to, the address it really is) for every address of `host`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise OutboundRefused(f"{host} is not a valid host name.") from None
    except OSError:
        raise OutboundRefused(f"{host} could not be resolved.", unresolved=True) from None
    found = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address.version == 6 and (address.ipv4_mapped or address in _NAT64):
            address = address.ipv4_mapped or ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if (sockaddr[0], address) not in found:
            found.append((sockaddr[0], address))
    return found


def _not_public(address: Address) -> str:
    """What kind of address this is when it is not a public one, else ''. A 6to4 address
    is checked with the IPv4 address it carries too."""
    inner = address.sixtofour if address.version == 6 else None
    for a in [a for a in (address, inner) if a is not None]:
        if a.is_loopback:
            return "a loopback address"
        if a.is_unspecified:
            return "an unspecified address"
        if a.is_link_local:
            return "a link-local address (where cloud metadata services answer)"
        if a.is_multicast:
            return "a multicast address"
        if a.is_private:
            return "a private-network address"
        if a.is_reserved:
            return "a reserved address"
        if not a.is_global:
            return "not a public address"
    return ""


def check_url(url: str) -> Destination:
    """The URL's destination with the addresses it may be sent to, or OutboundRefused."""
    destination = parse_url(url)
    host = destination.host
    names, networks = _allow_list()
    if destination.scheme == "http" and host not in names and not networks:
        raise OutboundRefused(PLAIN_HTTP_REFUSED)
    resolved = _resolve(destination.host, destination.port)
    if not _allowed(host, resolved, names, networks):
        if destination.scheme == "http":
            raise OutboundRefused(PLAIN_HTTP_REFUSED)
        _refuse_not_public(host, resolved)
    return dataclasses.replace(destination, addresses=tuple(a for a, _ in resolved))


def _allowed(host, resolved, names, networks) -> bool:
    return host in names or (
        bool(networks) and all(any(a in n for n in networks) for _, a in resolved)
    )


def _refuse_not_public(host, resolved) -> None:
    for _, address in resolved:
        if kind := _not_public(address):
            where = f"{host} is" if _is_literal(host) else f"{host} resolves to"
            raise OutboundRefused(f"{where} {kind}. {ALLOW_LIST_HINT}")


def check_endpoint(host: str, port: int) -> tuple[str, ...]:
    """For what Vigil watches rather than posts to (dependency checks, agent job stores):
    the addresses of host:port it may connect to, or OutboundRefused. Any protocol, plain or
    not, but the same rule on addresses: private ones only when OUTBOUND_ALLOWED_HOSTS lists
    them. Callers check at save and again right before every connection."""
    host = (host or "").strip().strip("[]").rstrip(".").lower()
    if not host:
        raise OutboundRefused("No host name given.")
    if not 0 < int(port) < 65536:
        raise OutboundRefused("The port must be a number from 1 to 65535.")
    names, networks = _allow_list()
    resolved = _resolve(host, int(port))
    if not _allowed(host, resolved, names, networks):
        _refuse_not_public(host, resolved)
    return tuple(a for a, _ in resolved)


def validate_endpoint(host: str, port: int) -> None:
    """check_endpoint as a form validator (a host that does not resolve yet passes)."""
    try:
        check_endpoint(host, port)
    except OutboundRefused as exc:
        if not exc.unresolved:
            raise ValidationError(str(exc), code="outbound_refused") from None


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def validate_outbound_url(value: str) -> None:
    """A form validator: the reason as the field's error. A host that does not resolve now
    passes, as nothing can be checked yet; delivery checks it again before every send."""
    try:
        check_url(value)
    except OutboundRefused as exc:
        if not exc.unresolved:
            raise ValidationError(str(exc), code="outbound_refused") from None


def pinned_connection(addresses):
    """A socket.create_connection for http.client that connects only to the checked
    addresses, in order (`conn._create_connection = pinned_connection(...)`): the host name
    stays for the Host header, SNI and the certificate check, and a DNS answer that changed
    since the check cannot send Vigil elsewhere."""

    def create_connection(address, timeout, source_address=None):
        error = OSError("No address to connect to.")
        for ip in addresses:
            try:
                return socket.create_connection((ip, address[1]), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error

    return create_connection
