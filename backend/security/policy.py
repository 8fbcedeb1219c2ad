"""The target policy: which addresses the wizard may open connections to (docs/design.md, "Target policy").

Every host the server contacts goes through :meth:`TargetPolicy.check` with the addresses
``netprobe.resolve`` got for it (resolved once; the driver is then given the checked
address, never the name). A host that someone else resolves (the target behind an SSH
tunnel is resolved by the SSH server) goes through :meth:`TargetPolicy.check_remote`.

The wizard's own listening ports are learned from the ASGI scope of the requests it
serves (``scope["server"]``, the socket a request came in on: uvicorn, the embedded
server of the Streamlit app, any ASGI server), from Streamlit's ``server.port`` when the
UI runs in the same process, and from ``WIZARD_OWN_PORTS`` (e.g. a reverse proxy's port).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BUILTIN_BLOCKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),  # link-local, cloud metadata (169.254.169.254: AWS, Azure, GCP, OCI)
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
    ipaddress.ip_network("0.0.0.0/8"),  # "this network" (RFC 1122); 0.0.0.0 reaches the wizard's own machine
    ipaddress.ip_network("::/128"),
    ipaddress.ip_network("255.255.255.255/32"),  # limited broadcast
)

# IPv6 ranges that carry an IPv4 address inside: the embedded address is checked too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known NAT64 prefix
_V4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible addresses (RFC 4291 2.5.5.1)


def parse_address(text: str) -> IPAddress | None:
    """``text`` as an IP address in any spelling ``getaddrinfo`` accepts without DNS, else None.

    Besides the canonical forms this takes IPv6 in brackets or with a zone (``fe80::1%eth0``)
    and the legacy IPv4 forms of ``inet_aton`` (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``,
    ``0251.0376.0251.0376``, ``169.254.43518``), which resolvers and drivers accept too.
    """
    bare = text.strip().strip("[]").split("%", 1)[0]
    if not bare:
        return None
    try:
        return normalise(bare)
    except ValueError:
        pass
    if all(c in "0123456789abcdefxABCDEFX." for c in bare) and bare[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def normalise(address: str) -> IPAddress:
    """The canonical address, whatever spelling the resolver returned (IPv4-mapped IPv6 included)."""
    ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def embedded(ip: IPAddress) -> list[IPAddress]:
    """``ip`` and every IPv4 address an IPv6 address carries (6to4, Teredo server, NAT64, compatible)."""
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found.append(ip.teredo[0])
        if ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1):
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _parse(spec: str | Iterable[str]) -> tuple[list[IPNetwork], list[str]]:
    """Networks and host names of a target list (``WIZARD_*_TARGETS``, split by ``Settings``; a string is split here)."""
    networks: list[IPNetwork] = []
    names: list[str] = []
    for item in (part.strip() for part in (spec.split(",") if isinstance(spec, str) else spec)):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
            continue
        except ValueError:
            pass
        ip = parse_address(item)
        if ip is not None:
            networks.append(ipaddress.ip_network(ip))
        else:
            names.append(item.lower().rstrip("."))
    return networks, names


def _name_matches(name: str, patterns: list[str]) -> bool:
    """``db.example.com`` matches ``db.example.com``, ``.example.com`` and ``*.example.com``."""
    for pattern in patterns:
        if pattern.startswith("*."):
            pattern = pattern[1:]
        if name == pattern or (pattern.startswith(".") and name.endswith(pattern)):
            return True
    return False


def _in(ip: IPAddress, networks: list[IPNetwork] | tuple[IPNetwork, ...]) -> IPNetwork | None:
    for net in networks:
        if ip.version == net.version and ip in net:
            return net
    return None


@dataclass
class TargetPolicy:
    allowed: str | Iterable[str] = ""
    blocked: str | Iterable[str] = ""
    own_ports: set[int] = field(default_factory=set)
    own_addresses: set[IPAddress] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._allowed_nets, self._allowed_names = _parse(self.allowed)
        self._blocked_nets, self._blocked_names = _parse(self.blocked)
        self._lock = threading.Lock()

    # --- the wizard's own endpoints -----------------------------------------------------------

    def add_own_endpoint(self, host: str | None, port: int | None) -> None:
        """Remember a (host, port) the wizard listens on (from an ASGI scope's ``server``)."""
        if port is None:
            return
        ip = parse_address(host) if host else None
        with self._lock:
            if port not in self.own_ports:
                self.own_ports = {*self.own_ports, port}
            if ip is not None and ip not in self.own_addresses:
                self.own_addresses = {*self.own_addresses, ip}

    def _is_own(self, ip: IPAddress, port: int | None) -> bool:
        if port is None or port not in self.own_ports:
            return False
        return ip.is_loopback or ip.is_unspecified or ip in self.own_addresses

    # --- checks -------------------------------------------------------------------------------

    def check_name(self, field_name: str, host: str) -> None:
        """Refuse a host by its name alone, before anything resolves it (no DNS query for a refused name).

        A name on the blocked list is refused; so is a name off the allowed list when that list
        has no address ranges (no address the name could resolve to would be allowed). With
        ranges on the allowed list, the answer needs the addresses: :meth:`check` gives it.
        """
        name = host.strip().strip("[]").lower().rstrip(".")
        if parse_address(name) is not None:
            return
        if _name_matches(name, self._blocked_names):
            raise self._refuse(field_name, host, "is on the blocked list")
        if self.allowed and not self._allowed_nets and not _name_matches(name, self._allowed_names):
            raise self._refuse(field_name, host, "is not on the allowed list")

    def check(self, field_name: str, host: str, addresses: list[str], port: int | None) -> None:
        """Raise ``TARGET_NOT_ALLOWED`` naming ``field_name`` unless every address may be contacted."""
        name = host.strip().strip("[]").lower().rstrip(".")
        if not addresses:
            raise self._refuse(field_name, host, "resolves to no address")
        self.check_name(field_name, host)
        for raw in addresses:
            ip = parse_address(raw)
            if ip is None:
                raise self._refuse(field_name, host, f"resolves to '{raw}', which is not an IP address")
            self._check_address(field_name, host, name, ip, port)

    def check_remote(self, field_name: str, host: str, port: int | None = None) -> None:
        """Check a host that another machine resolves (the target behind an SSH tunnel).

        Only what the wizard can know is checked: the name against the lists, and an IP
        literal (in any spelling) against the ranges. The wizard's own ports are not
        checked: ``127.0.0.1`` behind a tunnel is the SSH server's own loopback.
        """
        name = host.strip().strip("[]").lower().rstrip(".")
        if _name_matches(name, self._blocked_names):
            raise self._refuse(field_name, host, "is on the blocked list")
        ip = parse_address(host)
        if ip is None:
            if name == "localhost" or name.endswith(".localhost"):
                ip = ipaddress.IPv4Address("127.0.0.1")
            elif self.allowed and not _name_matches(name, self._allowed_names):
                raise self._refuse(field_name, host, "is not on the allowed list")
            else:
                return
        self._check_address(field_name, host, name, ip, None)

    def _check_address(self, field_name: str, host: str, name: str, ip: IPAddress, port: int | None) -> None:
        for candidate in embedded(ip):
            net = _in(candidate, BUILTIN_BLOCKS) or _in(candidate, self._blocked_nets)
            if net is not None:
                what = f"{ip}" if candidate == ip else f"{ip} (which carries {candidate})"
                raise self._refuse(field_name, host, f"resolves to {what}, in the blocked range {net}")
        if self._is_own(ip, port):
            raise self._refuse(field_name, host, f"is the wizard itself (port {port} is the wizard's own)")
        if self.allowed and not _name_matches(name, self._allowed_names) and _in(ip, self._allowed_nets) is None:
            raise self._refuse(field_name, host, f"resolves to {ip}, which is not on the allowed list")

    @staticmethod
    def _refuse(field_name: str, host: str, why: str) -> Failure:
        text = f"The wizard may not connect to {host}: it {why}."
        return Failure(Code.TARGET_NOT_ALLOWED, text, fields={field_name: text}, stage="dns")
