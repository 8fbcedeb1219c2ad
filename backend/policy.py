"""The target policy: which addresses the wizard may open connections to (DESIGN.md)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from backend.diagnosis import Failure
from backend.messages import Code

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BUILTIN_BLOCKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),  # link-local, cloud metadata (169.254.169.254)
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
    ipaddress.ip_network("0.0.0.0/32"),
    ipaddress.ip_network("::/128"),
)


def _parse(spec: str) -> tuple[list[IPNetwork], list[str]]:
    networks: list[IPNetwork] = []
    names: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.append(item.lower().rstrip("."))
    return networks, names


def normalise(address: str) -> IPAddress:
    """The canonical address, whatever spelling the resolver accepted (IPv4-mapped IPv6 included)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass
class TargetPolicy:
    allowed: str = ""
    blocked: str = ""
    own_ports: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._allowed_nets, self._allowed_names = _parse(self.allowed)
        self._blocked_nets, self._blocked_names = _parse(self.blocked)

    def check(self, field_name: str, host: str, addresses: list[str], port: int | None) -> None:
        """Raise ``TARGET_NOT_ALLOWED`` naming ``field_name`` unless every address may be contacted."""
        name = host.lower().rstrip(".")
        if name in self._blocked_names:
            raise self._refuse(field_name, host, "is on the blocked list")
        for raw in addresses:
            ip = normalise(raw)
            for net in (*BUILTIN_BLOCKS, *self._blocked_nets):
                if ip.version == net.version and ip in net:
                    raise self._refuse(field_name, host, f"resolves to {ip}, which is in the blocked range {net}")
            if port is not None and port in self.own_ports and ip.is_loopback:
                raise self._refuse(field_name, host, f"port {port} is the wizard's own")
            if self.allowed and name not in self._allowed_names and not any(
                ip.version == net.version and ip in net for net in self._allowed_nets
            ):
                raise self._refuse(field_name, host, f"{ip} is not on the allowed list")

    @staticmethod
    def _refuse(field_name: str, host: str, why: str) -> Failure:
        text = f"The wizard may not connect to {host}: it {why}."
        return Failure(Code.TARGET_NOT_ALLOWED, text, fields={field_name: text}, stage="dns")
