"""An OpenSSH server of the suite's own: /usr/sbin/sshd with its own config, host keys and port.

It only forwards (``AllowTcpForwarding local``) to loopback (``PermitOpen 127.0.0.1:* localhost:*``),
lets in one test user (created with ``useradd`` when missing, password set with ``chpasswd``),
and authorises a set of client keys in every common form (RSA, ECDSA, ed25519; OpenSSH,
PKCS#1/SEC1 and PKCS#8 PEM; encrypted). Needs root (sshd checks passwords in /etc/shadow).
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.common import ServerProcess, free_port, is_root, make_workdir, remove, run

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = "ssh-keygen"
TEST_USER = "wizardssh"
TEST_PASSWORD = "Ssh-Secret-4-Tests:#1"
KEY_PASSPHRASE = "Key-Passphrase-4-Tests"

# Client keys: name → (ssh-keygen type arguments, ssh-keygen -m format, encrypted).
# ssh-keygen writes ed25519 keys in the OpenSSH format whatever -m says; the PKCS#8 form of an
# ed25519 key is converted with ``cryptography`` below.
CLIENT_KEYS: dict[str, tuple[list[str], str, bool]] = {
    "rsa_openssh": (["-t", "rsa", "-b", "2048"], "RFC4716", False),
    "rsa_pkcs1": (["-t", "rsa", "-b", "2048"], "PEM", False),
    "rsa_pkcs8": (["-t", "rsa", "-b", "2048"], "PKCS8", False),
    "ecdsa_openssh": (["-t", "ecdsa", "-b", "256"], "RFC4716", False),
    "ecdsa_sec1": (["-t", "ecdsa", "-b", "384"], "PEM", False),
    "ecdsa_pkcs8": (["-t", "ecdsa", "-b", "521"], "PKCS8", False),
    "ed25519_openssh": (["-t", "ed25519"], "RFC4716", False),
    "ed25519_openssh_encrypted": (["-t", "ed25519"], "RFC4716", True),
    "rsa_openssh_encrypted": (["-t", "rsa", "-b", "2048"], "RFC4716", True),
    "rsa_pkcs1_encrypted": (["-t", "rsa", "-b", "2048"], "PEM", True),
    "ecdsa_pkcs8_encrypted": (["-t", "ecdsa", "-b", "256"], "PKCS8", True),
    "unauthorised": (["-t", "ed25519"], "RFC4716", False),
}
"""``-m RFC4716`` is ssh-keygen's default for private keys: the OpenSSH format."""


@dataclass(frozen=True)
class HostKey:
    type: str
    """As ``ssh-keygen -lf`` shows it: ``ED25519``, ``ECDSA``, ``RSA``."""
    bits: int
    fingerprint: str
    """``SHA256:…``, as ``ssh-keygen -lf`` shows it."""


@dataclass
class SSHServer(ServerProcess):
    """Start with :meth:`start`; ``config`` adds or overrides sshd_config keywords."""

    config: dict[str, str] = field(default_factory=dict)
    user: str = TEST_USER
    password: str = TEST_PASSWORD
    passphrase: str = KEY_PASSPHRASE
    """The passphrase of every ``*_encrypted`` client key."""
    keys: dict[str, str] = field(default_factory=dict)
    """Client private keys as PEM text, by name (see :data:`CLIENT_KEYS`, plus ``ed25519_pkcs8``)."""
    host_keys: dict[str, HostKey] = field(default_factory=dict)
    """The server's host keys by type (``ED25519``, ``ECDSA``, ``RSA``)."""

    def tunnel(self, **overrides: Any) -> dict[str, Any]:
        """A ``hooks_params.SSHTunnel`` body through this server (password login); ``None`` drops a field."""
        body: dict[str, Any] = {"host": self.host, "port": self.port, "username": self.user, "password": self.password}
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    def key_tunnel(self, key: str, **overrides: Any) -> dict[str, Any]:
        """A ``hooks_params.SSHTunnel`` body logging in with the client key ``key`` (its passphrase if encrypted)."""
        extra: dict[str, Any] = {"pkey_password": self.passphrase} if key.endswith("_encrypted") else {}
        return self.tunnel(**{"password": None, "pkey": self.keys[key], **extra, **overrides})

    @property
    def log(self) -> str:
        path = self.workdir / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> SSHServer:
        if not is_root():
            raise RuntimeError("the sshd test server needs root: sshd checks passwords in /etc/shadow")
        self.workdir = make_workdir("sshd")
        self.port = self.port or free_port()
        ensure_user(self.user, self.password)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # Debian's privilege separation directory
        host_key_files = []
        for kind in ("ed25519", "ecdsa", "rsa"):
            path = self.workdir / f"ssh_host_{kind}_key"
            run([SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", f"wizard-test-host-{kind}", "-f", str(path)])
            host_key_files.append(path)
            key = fingerprint_of(path.with_suffix(".pub"))
            self.host_keys[key.type] = key
        self._make_client_keys()
        authorized = [
            (self.workdir / "clients" / f"{name}.pub").read_text().strip()
            for name in CLIENT_KEYS
            if name != "unauthorised"
        ]
        (self.workdir / "authorized_keys").write_text("\n".join(authorized) + "\n")
        (self.workdir / "authorized_keys").chmod(0o644)
        remove(self.workdir / "clients")  # the private keys live on in ``self.keys`` only
        settings = {
            "Port": str(self.port),
            "ListenAddress": self.host,
            "PidFile": str(self.workdir / "sshd.pid"),
            "AuthorizedKeysFile": str(self.workdir / "authorized_keys"),
            # The authorised keys live under /tmp (world-writable): StrictModes would refuse them.
            "StrictModes": "no",
            "UsePAM": "no",
            "PasswordAuthentication": "yes",
            "KbdInteractiveAuthentication": "no",
            "PubkeyAuthentication": "yes",
            "PermitRootLogin": "no",
            "AllowUsers": self.user,
            "AllowTcpForwarding": "local",
            "PermitOpen": "127.0.0.1:* localhost:*",
            "PermitListen": "none",
            "GatewayPorts": "no",
            "X11Forwarding": "no",
            "AllowAgentForwarding": "no",
            "PermitTTY": "no",
            "PermitUserRC": "no",
            "ForceCommand": "/bin/false",
            "MaxStartups": "200",
            "MaxSessions": "50",
            "MaxAuthTries": "20",
            "LoginGraceTime": "30",
            "LogLevel": "VERBOSE",
            **self.config,
        }
        if openssh_version() >= (9, 8):
            # Newer sshd penalises addresses after failed logins; every test comes from 127.0.0.1.
            settings.setdefault("PerSourcePenalties", "no")
        lines = [f"{key} {value}" for key, value in settings.items()]
        lines += [f"HostKey {path}" for path in host_key_files]
        conf = self.workdir / "sshd_config"
        conf.write_text("\n".join(lines) + "\n")
        run([str(SSHD), "-t", "-f", str(conf)])
        self.spawn([str(SSHD), "-D", "-e", "-f", str(conf)], log="sshd.log", timeout=20)
        return self

    def _make_client_keys(self) -> None:
        clients = self.workdir / "clients"
        clients.mkdir(mode=0o700)
        for name, (kind, fmt, encrypted) in CLIENT_KEYS.items():
            path = clients / name
            passphrase = self.passphrase if encrypted else ""
            run([SSH_KEYGEN, "-q", *kind, "-m", fmt, "-N", passphrase, "-C", f"wizard-test-{name}", "-f", str(path)])
            self.keys[name] = path.read_text()
        self.keys["ed25519_pkcs8"] = _pkcs8_of(self.keys["ed25519_openssh"])


def ensure_user(user: str, password: str) -> None:
    """The test user: created when missing (no home, no shell), its password (re)set."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user])
    run(["chpasswd"], input=f"{user}:{password}\n")


def fingerprint_of(public_key: Path) -> HostKey:
    """``ssh-keygen -lf``: ``256 SHA256:… comment (ED25519)``."""
    out = run([SSH_KEYGEN, "-l", "-E", "sha256", "-f", str(public_key)]).stdout.strip()
    match = re.fullmatch(r"(\d+) (SHA256:\S+) .*\((\w+)\)", out)
    if match is None:
        raise RuntimeError(f"unexpected ssh-keygen -l output: {out}")
    return HostKey(type=match.group(3), bits=int(match.group(1)), fingerprint=match.group(2))


def openssh_version() -> tuple[int, int]:
    out = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True, timeout=10)
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stderr + out.stdout)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _pkcs8_of(openssh_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(openssh_pem.encode(), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


if __name__ == "__main__":  # a quick manual check: python -m tests.servers.sshd
    server = SSHServer().start()
    try:
        print(server.port, server.host_keys, sorted(server.keys), os.getpid())
    finally:
        server.stop()
