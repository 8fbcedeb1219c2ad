"""The facts a form and a URI reader need beyond a model's types: labels, help, layout, URI schemes.

Connectors declare them as class attributes (:class:`backend.connectors.base.Connector`) and the
hooks in :mod:`backend.hooks.forms`; :mod:`backend.spec.forms` resolves them for ``GET …/forms/`` and
:mod:`backend.spec.uri` reads connection URIs with them. Every fact has a default — the common fields
below, else one derived from the field's name — so a connector that declares nothing still gets a
complete, well-labelled form. This module sits below the connectors and the hooks: it imports
neither, so both may use it.

Types, defaults, required-ness and choice values are not here: they stay in ``supported_types``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from urllib.parse import unquote


@dataclass(frozen=True)
class FieldFacts:
    """How one field shows in a form; ``None`` (or ``False``) takes the common or derived default."""

    label: str | None = None
    help: str | None = None
    placeholder: str | None = None
    advanced: bool | None = None
    """Shown folded away: drivers, local tunnel ends, views… (the defaults fit most people)."""
    row: str | None = None
    """Consecutive fields with the same row share a line (``host`` and ``port``: ``address``)."""
    upload: bool | None = None
    """A text field that also takes a file upload (PEM, private key); default: a multi-line field."""

    def over(self, base: FieldFacts) -> FieldFacts:
        """These facts, with ``base``'s where these say nothing."""
        given = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        return replace(base, **given)


@dataclass(frozen=True)
class Option:
    """One way to fill an alternative: its fields show only when it is picked."""

    label: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Alternative:
    """Fields that are given one way or another (SSH: a password or a private key)."""

    name: str
    label: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class HookFacts:
    """A hook's section of a form: its name, what it is for, and its fields' facts (in display order)."""

    label: str
    help: str
    fields: Mapping[str, FieldFacts] = field(default_factory=dict)
    alternatives: tuple[Alternative, ...] = ()


class URIError(ValueError):
    """A URI that cannot be read; ``message`` says what to fix and quotes no value (``backend.spec.uri`` raises it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class URIParts:
    """A URI cut into its parts, still percent-encoded: what ``backend.spec.uri`` cuts from
    ``//user:password@host:port/path?query`` and a connector's :class:`URIDialect` may adjust."""

    hostport: str
    """``host``, ``host:port`` or ``[IPv6]:port`` (read by ``backend.spec.uri`` once the dialect is done)."""
    path: str = ""
    """Everything from the first ``/`` after the host on, ``?query`` aside (``/database``, ``/folder/``)."""
    user: str | None = None
    """None: the URI has no ``user@`` (``""``: an empty one)."""
    password: str | None = None
    parameters: list[tuple[str, str]] = field(default_factory=list)
    """``key=value`` parameters, percent-decoded, in the order read: the query's, then the dialect's."""
    notes: list[str] = field(default_factory=list)
    """What the reader should know (by name, never a value), e.g. that a SID was read as a service name."""

    def add_parameters(self, text: str, separator: str) -> None:
        """``a=1&b=2`` (or ``a=1;b=2``) as pairs, percent-decoded; a ``+`` stays a ``+``, as libpq reads it."""
        pairs = (item.partition("=") for item in text.split(separator))
        self.parameters.extend((unquote(key), unquote(value)) for key, sep, value in pairs if sep and key)


URICut = Callable[[str], URIParts]
"""``backend.spec.uri``'s generic cut of ``//user:password@host:port/path?query`` (a ``jdbc:`` form may
leave out the ``//``), handed to a dialect; it raises :class:`URIError` for text it cannot cut."""


class URIDialect:
    """How one connector's URIs depart from ``scheme://user:password@host:port/path?query``.

    ``backend.spec.uri`` finds the connector by the scheme, then calls :meth:`read` with the text after
    ``scheme:`` (or ``scheme+driver:``) and its generic cut; it maps the parts to fields, reads
    host and port, checks and coerces the values. A connector module subclasses this for a form
    of its own (``jdbc:sqlserver://host:port;databaseName=x``, Oracle's ``user/password@host:port:SID``)
    and declares an instance as ``URIFacts.dialect``; a plugin does the same.
    """

    def read(self, scheme: str, rest: str, cut: URICut) -> URIParts:
        """The parts of ``rest`` (``//user@host:port/db?k=v``, or the dialect's own form); by default the generic cut."""
        return cut(rest)


@dataclass(frozen=True)
class URIFacts:
    """How a connection URI reads into a connector's body.

    ``schemes`` are lower case, the first the usual one; ``jdbc:`` forms are schemes too
    (``jdbc:postgresql``, ``jdbc:oracle:thin``, ``jdbc:sybase:tds``). ``parts`` maps the parts of
    ``scheme://user:password@host:port/path`` to fields: ``path`` without its slashes (a database
    name), ``folder`` with them (``/exports/``), ``account`` the first label of the host (as in
    ``abfss://container@account.dfs.core.windows.net``); a part mapped to ``""`` is ignored
    (Databricks' user is always ``token``). ``scheme_parts`` overrides ``parts`` for one scheme. ``query`` maps a query or ``;key=value`` parameter (lower case) to a field path, on
    top of :data:`COMMON_QUERY`. ``connection_strings`` reads ``Key=value;…`` text: the key that
    marks the kind (lower case) → the secret field that takes the whole string. ``secret_urls``
    reads an ``https://`` URL whose host ends so (``.blob.core.windows.net``: a SAS URL) whole
    into a secret field.

    ``dialect`` reads the connector's own syntax (its ``jdbc:`` forms: ``;key=value`` after the
    host, Oracle's thin ``user/password@``…); None: the generic form only. ``spellings`` are
    ``example`` written in the connector's other forms (each of its ``jdbc:`` schemes at least):
    each must read as ``example`` does, which ``tests/test_completeness.py`` checks, so a form
    whose dialect is missing is named.
    """

    schemes: tuple[str, ...]
    example: str
    parts: Mapping[str, str] = field(default_factory=dict)
    scheme_parts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    connection_strings: Mapping[str, str] = field(default_factory=dict)
    secret_urls: Mapping[str, str] = field(default_factory=dict)
    dialect: URIDialect | None = None
    spellings: tuple[str, ...] = ()


SERVER_PARTS: Mapping[str, str] = {
    "host": "host",
    "port": "port",
    "user": "username",
    "password": "password",
    "path": "database",
}
"""``scheme://user:password@host:port/database``: what most database URIs look like."""

COMMON_QUERY: Mapping[str, str] = {
    "user": "username",
    "username": "username",
    "password": "password",
    "dbname": "database",
    "database": "database",
    "databasename": "database",
    "schema": "schema_name",
    "currentschema": "schema_name",
    "search_path": "schema_name",
    "port": "port",
    "sslmode": "hooks_params.SSL.ssl_mode",
    "ssl_mode": "hooks_params.SSL.ssl_mode",
    "ssl-mode": "hooks_params.SSL.ssl_mode",
    "sslrootcert": "hooks_params.SSL.ca_filename",
    "sslcert": "hooks_params.SSL.cert_filename",
    "sslkey": "hooks_params.SSL.key_filename",
}
"""Query parameters most drivers share (``?sslmode=require&user=etl``); a path the connector does
not have is left out with a note."""

COMMON_FIELDS: Mapping[str, FieldFacts] = {
    "host": FieldFacts("Host", "The server's name or IP address, without http:// in front.",
                       "db.example.com", row="address"),
    "port": FieldFacts("Port", "The TCP port the server listens on; keep the default unless told otherwise.",
                       row="address"),
    "database": FieldFacts("Database", "The name of the database to open on that server.", "sales"),
    "username": FieldFacts("User name", "The account to log in with.", "etl"),
    "password": FieldFacts("Password", "The account's password. It is never shown again."),
    "schema_name": FieldFacts("Schema", "Optional: a schema (namespace) inside the database; the test checks "
                                        "that it exists and that the user may see it."),
    "protocol": FieldFacts("Driver", "The Python driver the wizard talks to the server with; keep the default "
                                     "unless told otherwise.", advanced=True),
    "include_views": FieldFacts("Include views", "Also read views, not only tables, from this connection.",
                                advanced=True),
    "remote_path": FieldFacts("Folder", "The folder to write to; / for the top. The test lists what is "
                                        "stored under it.", "/exports/"),
}
"""Facts of the fields many connectors share; a connector's own facts go over them."""


def readable(name: str) -> str:
    """``storage_account_name`` → ``Storage account name``: the label of a field nobody described."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|_+", " ", name).strip()
    return spaced[:1].upper() + spaced[1:].lower() if spaced else name


STORED_MASK = "**********"
"""How a stored secret of a saved connection reads (DESIGN.md "Saved connections"); sent back, it keeps it.
Here, below the connectors and the saved connections, so that ``forms/`` serves the very value they use."""


# --- words the UI shows for the API's fixed names (served at ``forms/``: the UI holds no copy) ------

STAGE_TITLES: Mapping[str, str] = {
    "parameters": "Check the settings",
    "dns": "Find the server",
    "tcp": "Reach the server",
    "ssh": "Open the SSH tunnel",
    "tls": "Set up encryption",
    "authentication": "Log in",
    "database": "Open the database",
    "query": "Run a test query",
    "kerberos": "Get a Kerberos ticket",
    "bucket": "Open the bucket",
    "container": "Open the container",
    "path": "Find the folder",
}
"""Each stage of a test (``payload.stages[].name``) as a person reads it."""


@dataclass(frozen=True)
class Words:
    """A fixed name of the spec (a capability, a functionality) in plain words: a short label and what it means."""

    label: str
    meaning: str


CAPABILITY_TITLES: Mapping[str, Words] = {
    "IDENTITY_WRITING": Words("Write identity columns", "Write your own values into auto-numbered (identity) columns."),
    "DATA_TRUNCATION": Words("Empty tables", "Empty a table quickly before loading it."),
    "DATA_DELETION": Words("Delete rows", "Delete rows before loading."),
    "INDEX_MANAGEMENT": Words("Manage indexes", "Drop or disable indexes during the load and rebuild them after."),
    "FOREIGN_KEY_MANAGEMENT": Words("Manage foreign keys",
                                    "Switch off or drop foreign keys during the load and restore them after."),
    "UNIQUE_CONSTRAINT_MANAGEMENT": Words("Manage unique constraints",
                                          "Switch off or drop unique constraints during the load and restore them after."),
    "TRIGGER_MANAGEMENT": Words("Manage triggers", "Switch off triggers during the load so they do not fire for every row."),
    "SCHEMA_MANAGEMENT": Words("Manage tables", "Create or change tables to fit the data."),
    "HIGH_PERFORMANCE_WRITING": Words("High performance writing", "Load large amounts of data fast, by moving checks such as "
                                      "indexes, keys and triggers out of the way during the load and putting them back afterwards."),
    "IDEMPOTENT_WRITING": Words("Idempotent writing", "Write so that running the same load twice leaves the same data, "
                                "without duplicates: tables are emptied or replaced first and keys are kept as given."),
    "READ": Words("Read data", "Read the tables and views of the schema."),
    "WRITE": Words("Write data", "Insert and change rows in the schema's tables."),
    "CREATE": Words("Create tables", "Create new tables in the schema."),
    "DELETE": Words("Delete data", "Delete rows and drop tables in the schema."),
}
"""Capabilities, functionalities and access kinds (``capabilities/`` items' ``name``) in plain words."""


def label_of(name: str) -> str:
    """The plain label of a fixed name: its words, else the readable form of the name."""
    words = CAPABILITY_TITLES.get(name)
    return words.label if words else readable(name)
