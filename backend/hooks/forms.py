"""How each hook's section of a form reads: labels, help, layout and alternatives (``GET …/forms/``).

Beside the hooks' logic, not in it: the texts say what ``ssh.check_tunnel``,
``tls.prepare`` and the Kerberos hook really accept (e.g. the SSH port is 22 when left empty,
the tunnel's local end is loopback only, a CA is given inline *or* as a file, never both).
"""

from __future__ import annotations

from backend.spec.formfacts import Alternative, FieldFacts, HookFacts, Option

SSH_TUNNEL = HookFacts(
    label="SSH tunnel",
    help="Reach the database through an SSH server (a jump host) when it cannot be reached directly. "
         "The wizard checks that the SSH server can reach the database's host and port.",
    fields={
        "host": FieldFacts("SSH server", "The SSH server (jump host) that can reach the database.",
                           "bastion.example.com", row="ssh_address"),
        "port": FieldFacts("SSH port", "The SSH server's port; empty means 22.", "22", row="ssh_address"),
        "username": FieldFacts("SSH user name", "The account on the SSH server.", "jump"),
        "password": FieldFacts("SSH password", "The SSH account's password. It is never shown again."),
        "pkey": FieldFacts("Private key", "An RSA, ECDSA or ed25519 private key in OpenSSH or PEM format: "
                                          "upload the file (e.g. id_ed25519) or paste it.",
                           "-----BEGIN OPENSSH PRIVATE KEY-----"),
        "pkey_password": FieldFacts("Key passphrase", "Only if the private key is protected by a passphrase."),
        "local_host": FieldFacts("Local address", "Where the tunnel's local end listens: loopback only; empty "
                                                  "means 127.0.0.1.", "127.0.0.1", advanced=True, row="local"),
        "local_port": FieldFacts("Local port", "The tunnel's local port; empty picks a free one.",
                                 advanced=True, row="local"),
    },
    alternatives=(
        Alternative("auth", "Sign in with", (
            Option("Password", ("password",)),
            Option("Private key", ("pkey", "pkey_password")),
        )),
    ),
)

SSL = HookFacts(
    label="SSL / TLS encryption",
    help="Encrypt the connection and check the server's certificate. Paste or upload each certificate "
         "and key, or name a file in the wizard's files folder (ask the wizard's administrator which).",
    fields={
        "ssl_mode": FieldFacts("TLS mode", "How strictly to encrypt: the verify modes also check the server's "
                                           "certificate (verify-full also that it names this host). Only the "
                                           "modes this database can use are accepted."),
        "ca": FieldFacts("CA certificate", "The certificate authority that signed the server's certificate "
                                           "(PEM): paste it or upload the file.",
                         "-----BEGIN CERTIFICATE-----"),
        "ca_filename": FieldFacts("CA certificate file", "A file name inside the wizard's files folder, "
                                                         "instead of pasting the CA.", "ca.pem"),
        "cert": FieldFacts("Client certificate", "Only when the server asks for a client certificate (PEM); it "
                                                 "needs its private key.", "-----BEGIN CERTIFICATE-----"),
        "key": FieldFacts("Client private key", "The private key of the client certificate (PEM). It is never "
                                                "shown again.", "-----BEGIN PRIVATE KEY-----"),
        "cert_filename": FieldFacts("Client certificate file", "A file name inside the wizard's files folder.",
                                    "client.crt"),
        "key_filename": FieldFacts("Client key file", "A file name inside the wizard's files folder.",
                                   "client.key"),
    },
    alternatives=(
        Alternative("ca_source", "CA certificate", (
            Option("Paste or upload", ("ca",)),
            Option("File on the wizard's server", ("ca_filename",)),
        )),
        Alternative("client_certificate", "Client certificate", (
            Option("None", ()),
            Option("Paste or upload", ("cert", "key")),
            Option("Files on the wizard's server", ("cert_filename", "key_filename")),
        )),
    ),
)

KERBEROS = HookFacts(
    label="Kerberos",
    help="Log in with a Kerberos (GSSAPI) identity from a keytab instead of a password.",
    fields={
        "principal": FieldFacts("Kerberos principal", "Your Kerberos identity, user@REALM.", "etl@EXAMPLE.COM"),
        "keytab_file": FieldFacts("Keytab file", "The name of a keytab file (it holds your Kerberos keys) in "
                                                 "the wizard's files folder; ask the wizard's administrator to "
                                                 "put it there.", "etl.keytab"),
    },
)

HOOK_FORMS: dict[str, HookFacts] = {"SSHTunnel": SSH_TUNNEL, "SSL": SSL, "Kerberos": KERBEROS}
"""Each hook of ``schemas.HOOK_MODELS`` → its form facts."""
