"""Plain words for what the metadata names: connectors, fields, hooks, stages, capabilities.

Everything here is generic (keyed by connector type, field name or stage name, never by
connector + field), and everything has a fallback, so a connector added to the backend shows
up in the UI with readable names and no UI change.
"""

from __future__ import annotations

import re

CONNECTOR_NAMES: dict[str, str] = {
    "MsSQLConnector": "Microsoft SQL Server",
    "MySQLMariaDBConnector": "MySQL / MariaDB",
    "OracleConnector": "Oracle Database",
    "PostgreSQLConnector": "PostgreSQL",
    "DatabricksConnector": "Databricks",
    "DB2Connector": "IBM Db2",
    "SybaseConnector": "SAP ASE (Sybase)",
    "ADLSFSConnector": "Azure Data Lake Storage",
    "S3FSConnector": "Amazon S3",
}


def readable(name: str) -> str:
    """``storage_account_name`` → ``Storage account name``; ``CamelCase`` → ``Camel case``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|_+", " ", name).strip()
    return spaced[:1].upper() + spaced[1:].lower() if spaced else name


def connector_name(connector_type: str) -> str:
    """The plain name of a connector; a readable form of the type name for one not listed here."""
    if connector_type in CONNECTOR_NAMES:
        return CONNECTOR_NAMES[connector_type]
    base = re.sub(r"(FS)?Connector$", "", connector_type) or connector_type
    # Keep runs of capitals (``DB2``, ``ADLS``) whole: split only lower→Upper boundaries.
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)


HOOK_NAMES: dict[str, str] = {"SSHTunnel": "SSH tunnel", "SSL": "SSL / TLS encryption", "Kerberos": "Kerberos"}
HOOK_HELP: dict[str, str] = {
    "SSHTunnel": "Reach the database through an SSH server (a jump host) when it is not directly reachable.",
    "SSL": "Encrypt the connection and check the server's certificate.",
    "Kerberos": "Log in with a Kerberos ticket (single sign-on) instead of a password.",
}


def hook_name(hook: str) -> str:
    return HOOK_NAMES.get(hook, readable(hook))


FIELD_LABELS: dict[str, str] = {
    "host": "Host",
    "port": "Port",
    "database": "Database",
    "username": "User name",
    "password": "Password",
    "schema_name": "Schema",
    "protocol": "Driver",
    "include_views": "Include views",
    "catalog": "Catalog",
    "token": "Access token",
    "cluster_path": "Cluster HTTP path",
    "warehouse_id": "SQL warehouse ID",
    "bucket": "Bucket",
    "region": "Region",
    "remote_path": "Folder",
    "aws_access_key_id": "Access key ID",
    "aws_secret_access_key": "Secret access key",
    "storage_account_name": "Storage account",
    "storage_container_name": "Container",
    "storage_account_key": "Account key",
    "storage_connection_string": "Storage account connection string",
    "container_connection_string": "Container connection string (SAS)",
    "ssl_mode": "TLS mode",
    "ca": "CA certificate (PEM)",
    "cert": "Client certificate (PEM)",
    "key": "Client private key (PEM)",
    "ca_filename": "CA certificate file (on the wizard's server)",
    "cert_filename": "Client certificate file (on the wizard's server)",
    "key_filename": "Client key file (on the wizard's server)",
    "pkey": "Private key",
    "pkey_password": "Private key passphrase",
    "local_host": "Local address",
    "local_port": "Local port",
    "principal": "Kerberos principal",
    "keytab_file": "Keytab file (on the wizard's server)",
}

FIELD_HELP: dict[str, str] = {
    "host": "The server's name or IP address, e.g. db.example.com. No http:// in front.",
    "port": "The network port the server listens on. Keep the suggested value unless told otherwise.",
    "database": "The name of the database to open on that server.",
    "username": "The account to log in with.",
    "password": "The account's password. It stays in this browser session and is never shown again.",
    "schema_name": "Optional: the schema (namespace) inside the database to check access to.",
    "protocol": "How the wizard talks to the server. Keep the suggested one unless told otherwise.",
    "include_views": "Also list views, not only tables, when reading from this connection.",
    "catalog": "The Unity Catalog catalog to use.",
    "token": "A personal access token. It stays in this browser session and is never shown again.",
    "cluster_path": "The HTTP path of a cluster, from its JDBC/ODBC settings (use this or a SQL warehouse).",
    "warehouse_id": "The ID of a SQL warehouse (use this or a cluster path).",
    "bucket": "The bucket name only, e.g. my-data (no s3:// in front).",
    "region": "The bucket's region, e.g. eu-west-1.",
    "remote_path": "The folder inside the bucket or container; / for the top.",
    "aws_access_key_id": "Leave empty to use the credentials the wizard's server already has.",
    "aws_secret_access_key": "The secret that goes with the access key ID. Never shown again.",
    "storage_account_name": "The storage account name, e.g. mystorageaccount.",
    "storage_container_name": "The container (file system) inside the storage account.",
    "storage_account_key": "One of the storage account's access keys. Never shown again.",
    "storage_connection_string": "The account's full connection string, from the Azure portal. Never shown again.",
    "container_connection_string": "A connection string or SAS URL that grants access to one container.",
    "ssl_mode": "How strictly to check encryption; the verify modes also check the server's certificate.",
    "ca": "The certificate authority that signed the server's certificate: paste it or upload the file.",
    "cert": "Only when the server asks for a client certificate: paste it or upload the file.",
    "key": "The private key of the client certificate: upload the file or paste it.",
    "ca_filename": "A file name inside the wizard's files folder, instead of pasting the CA.",
    "cert_filename": "A file name inside the wizard's files folder, instead of pasting the certificate.",
    "key_filename": "A file name inside the wizard's files folder, instead of pasting the key.",
    "pkey": "Your SSH private key: upload the file (e.g. id_ed25519) or paste it.",
    "pkey_password": "Only if the private key is protected by a passphrase.",
    "local_host": "Optional: the local address the tunnel listens on.",
    "local_port": "Optional: the local port the tunnel listens on; empty picks a free one.",
    "principal": "Your Kerberos identity, e.g. alice@EXAMPLE.COM.",
    "keytab_file": "A keytab file name inside the wizard's files folder.",
}

# SSH tunnel fields read differently from the database's own fields of the same name.
HOOK_FIELD_LABELS: dict[tuple[str, str], str] = {
    ("SSHTunnel", "host"): "SSH server",
    ("SSHTunnel", "port"): "SSH port",
    ("SSHTunnel", "username"): "SSH user name",
    ("SSHTunnel", "password"): "SSH password",
}
HOOK_FIELD_HELP: dict[tuple[str, str], str] = {
    ("SSHTunnel", "host"): "The SSH server (jump host) that can reach the database.",
    ("SSHTunnel", "port"): "The SSH server's port, usually 22.",
    ("SSHTunnel", "username"): "The account on the SSH server.",
    ("SSHTunnel", "password"): "The SSH account's password, if you do not use a private key.",
}


def field_label(name: str, hook: str | None = None) -> str:
    if hook and (hook, name) in HOOK_FIELD_LABELS:
        return HOOK_FIELD_LABELS[(hook, name)]
    return FIELD_LABELS.get(name, readable(name))


def field_help(name: str, hook: str | None = None) -> str | None:
    if hook and (hook, name) in HOOK_FIELD_HELP:
        return HOOK_FIELD_HELP[(hook, name)]
    return FIELD_HELP.get(name)


def path_label(path: str) -> str:
    """A field path of ``details`` (``hooks_params.SSL.ca``) in plain words (``SSL / TLS encryption › CA …``)."""
    parts = path.split(".")
    if len(parts) >= 3 and parts[0] == "hooks_params":
        return f"{hook_name(parts[1])} › {field_label(parts[2], parts[1])}"
    if len(parts) == 2 and parts[0] == "hooks_params":
        return hook_name(parts[1])
    if path in ("body", "connector_type"):
        return "Connection type" if path == "connector_type" else "Request"
    return field_label(parts[-1])


STAGE_NAMES: dict[str, str] = {
    "parameters": "Check the settings",
    "dns": "Find the host (DNS)",
    "tcp": "Reach the port (TCP)",
    "ssh": "Open the SSH tunnel",
    "tls": "Encrypt (TLS)",
    "authentication": "Log in",
    "database": "Open the database",
    "query": "Run a test query",
    "kerberos": "Kerberos ticket",
    "bucket": "Open the bucket",
    "container": "Open the container",
    "path": "Find the folder",
    "list": "List the files",
}


def stage_name(name: str) -> str:
    return STAGE_NAMES.get(name, readable(name))


FUNCTIONALITY_WORDS: dict[str, str] = {
    "HIGH_PERFORMANCE_WRITING": "Load large amounts of data fast, by moving checks such as indexes, "
    "keys and triggers out of the way during the load and putting them back afterwards.",
    "IDEMPOTENT_WRITING": "Write so that running the same load twice leaves the same data, "
    "without duplicates: tables are emptied or replaced first and keys are kept as given.",
}

CAPABILITY_WORDS: dict[str, str] = {
    "IDENTITY_WRITING": "Write your own values into auto-numbered (identity) columns.",
    "DATA_TRUNCATION": "Empty a table quickly before loading it.",
    "DATA_DELETION": "Delete rows before loading.",
    "INDEX_MANAGEMENT": "Drop or disable indexes during the load and rebuild them after.",
    "FOREIGN_KEY_MANAGEMENT": "Switch off or drop foreign keys during the load and restore them after.",
    "UNIQUE_CONSTRAINT_MANAGEMENT": "Switch off or drop unique constraints during the load and restore them after.",
    "TRIGGER_MANAGEMENT": "Switch off triggers during the load so they do not fire for every row.",
    "SCHEMA_MANAGEMENT": "Create or change tables to fit the data.",
}

CAPABILITY_SHORT: dict[str, str] = {
    "IDENTITY_WRITING": "Identity",
    "DATA_TRUNCATION": "Truncate",
    "DATA_DELETION": "Delete",
    "INDEX_MANAGEMENT": "Indexes",
    "FOREIGN_KEY_MANAGEMENT": "Foreign keys",
    "UNIQUE_CONSTRAINT_MANAGEMENT": "Unique",
    "TRIGGER_MANAGEMENT": "Triggers",
    "SCHEMA_MANAGEMENT": "Schema",
}


def capability_label(name: str) -> str:
    """A short column title for the matrix (the full name and meaning go in its tooltip)."""
    return CAPABILITY_SHORT.get(name, readable(name))


KIND_WORDS: dict[str, str] = {
    "ADDITIVE": "adds speed or features",
    "PREVENTIVE": "prevents a problem",
}
