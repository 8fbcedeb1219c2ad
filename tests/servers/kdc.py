"""An MIT Kerberos KDC of the suite's own: its realm, database, kdc.conf and krb5.conf in a temp dir.

``kdb5_util create -s`` makes the database, ``kadmin.local`` the principals and keytabs, and
``krb5kdc -n`` runs in the foreground as a subprocess, listening on one loopback TCP port.
Clients are pointed at it with ``KRB5_CONFIG`` (:meth:`KDC.krb5_conf`), never at /etc/krb5.conf.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.common import LOOPBACK, ServerProcess, free_port, make_workdir, run

REALM = "WIZARD.TEST"


def krb5_conf(realm: str, kdc_port: int) -> str:
    """A client krb5.conf: TCP to the loopback KDC only, no DNS look-ups of any kind."""
    return f"""[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    ignore_acceptor_hostname = false
    kdc_timesync = 0

[realms]
    {realm} = {{
        kdc = {LOOPBACK}:{kdc_port}
    }}

[domain_realm]
    localhost = {realm}
    .localhost = {realm}
"""


@dataclass
class KDC(ServerProcess):
    realm: str = REALM
    principals: set[str] = field(default_factory=set)

    @property
    def conf_path(self) -> Path:
        return self.workdir / "krb5.conf"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KRB5_CONFIG": str(self.conf_path), "KRB5_KDC_PROFILE": str(self.workdir / "kdc.conf")}

    def start(self) -> KDC:
        self.workdir = make_workdir("kdc")
        self.port = self.port or free_port()
        w = self.workdir
        (w / "kdc.conf").write_text(f"""[kdcdefaults]
    kdc_listen = {LOOPBACK}:{self.port}
    kdc_tcp_listen = {LOOPBACK}:{self.port}

[realms]
    {self.realm} = {{
        database_name = {w}/principal
        key_stash_file = {w}/stash
        acl_file = {w}/kadm5.acl
        kdc_listen = {LOOPBACK}:{self.port}
        kdc_tcp_listen = {LOOPBACK}:{self.port}
        max_life = 1h
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}

[logging]
    kdc = FILE:{w}/kdc.log
""")
        (w / "kadm5.acl").write_text("")
        self.conf_path.write_text(krb5_conf(self.realm, self.port))
        run(["kdb5_util", "create", "-s", "-r", self.realm, "-P", "Master-Secret-4-Tests"], env=self.env)
        self.spawn(["krb5kdc", "-n", "-r", self.realm], log="krb5kdc.out", timeout=30, env=self.env)
        return self

    def kadmin(self, query: str) -> str:
        return run(["kadmin.local", "-r", self.realm, "-q", query], env=self.env).stdout

    def add_principal(self, name: str) -> str:
        """Create ``name`` with a random key; return the full principal."""
        full = name if "@" in name else f"{name}@{self.realm}"
        self.kadmin(f"addprinc -randkey {full}")
        self.principals.add(full)
        return full

    def delete_principal(self, name: str) -> None:
        full = name if "@" in name else f"{name}@{self.realm}"
        self.kadmin(f"delprinc -force {full}")
        self.principals.discard(full)

    def keytab(self, path: Path, *names: str) -> Path:
        """Export the current keys of ``names`` into ``path`` (keys unchanged: ``-norandkey``)."""
        for name in names:
            full = name if "@" in name else f"{name}@{self.realm}"
            self.kadmin(f"ktadd -norandkey -k {path} {full}")
        return path
