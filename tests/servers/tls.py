"""A throw-away PKI made with the ``openssl`` command line: two unrelated CAs, server and client certificates.

Every key is an EC P-256 key (fast to make, understood by PostgreSQL, MariaDB and both MySQL drivers).
The server certificate names ``localhost`` and ``127.0.0.1`` (subjectAltName), so a test that connects
to ``127.0.0.1`` or ``localhost`` with full verification passes, and one that uses another name that
still reaches 127.0.0.1 (e.g. ``db.localhost``, RFC 6761) fails the host name check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.common import make_workdir, remove, run

_DAYS = "30"


@dataclass
class Pair:
    """A certificate and its private key, as files and as PEM text."""

    cert: Path
    key: Path

    @property
    def cert_pem(self) -> str:
        return self.cert.read_text()

    @property
    def key_pem(self) -> str:
        return self.key.read_text()


@dataclass
class PKI:
    """``ca`` signs the server and the clients; ``other_ca`` is unrelated (its certificates are untrusted)."""

    workdir: Path = Path()
    ca: Pair = field(init=False)
    other_ca: Pair = field(init=False)
    server: Pair = field(init=False)
    clients: dict[str, Pair] = field(default_factory=dict)

    def create(self) -> PKI:
        self.workdir = make_workdir("pki")
        self.ca = self._self_signed("ca", "/O=Wizard Tests/CN=Wizard Test CA")
        self.other_ca = self._self_signed("other-ca", "/O=Somebody Else/CN=Unrelated CA")
        self.server = self.issue("server", "/O=Wizard Tests/CN=localhost",
                                 san="DNS:localhost,IP:127.0.0.1", usage="serverAuth")
        return self

    def client(self, cn: str, *, signer: str = "ca") -> Pair:
        """A client certificate for ``cn`` (cached), signed by ``ca`` or by ``other_ca``."""
        name = f"client-{cn}-{signer}"
        if name not in self.clients:
            self.clients[name] = self.issue(name, f"/O=Wizard Tests/CN={cn}", usage="clientAuth", signer=signer)
        return self.clients[name]

    def issue(
        self, name: str, subject: str, *, usage: str, san: str | None = None, signer: str = "ca", days: int | None = None
    ) -> Pair:
        ca = self.ca if signer == "ca" else self.other_ca
        key, csr, cert, ext = (self.workdir / f"{name}{suffix}" for suffix in (".key", ".csr", ".crt", ".ext"))
        lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyAgreement",
                 f"extendedKeyUsage={usage}"]
        if san:
            lines.append(f"subjectAltName={san}")
        ext.write_text("\n".join(lines) + "\n")
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", subject])
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
             "-CAcreateserial", "-days", str(days) if days else _DAYS, "-sha256", "-extfile", str(ext), "-out", str(cert)])
        key.chmod(0o600)
        return Pair(cert, key)

    def _self_signed(self, name: str, subject: str) -> Pair:
        key, cert = self.workdir / f"{name}.key", self.workdir / f"{name}.crt"
        run(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", subject, "-days", _DAYS, "-sha256",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        key.chmod(0o600)
        return Pair(cert, key)

    def remove(self) -> None:
        remove(self.workdir)
