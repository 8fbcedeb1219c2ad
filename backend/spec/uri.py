"""Read a connection URI (or an Azure connection string) into a partial ``Create…Connector`` body.

Every scheme, part and parameter name comes from the registry (each connector's ``uri`` facts,
:func:`backend.spec.forms.uri_facts`), and so does every syntax of a connector's own (its
``URIFacts.dialect``, a :class:`backend.spec.formfacts.URIDialect`): this module holds the generic
machinery only — finding the connector by its scheme, cutting ``//user:password@host:port/path?query``,
reading host and port, mapping parts and parameters to fields and coercing them — and no table
or form of any connector, so a new connector module (or a plugin's) is read as soon as it exists. Pure — no I/O, no settings — so that the UI can parse a
pasted URI in its own process (the password in it never travels to the server and back) and the
command line can read ``--uri``.

Forms read: ``scheme[+driver]://user:password@host:port/database?key=value`` (percent-encoding,
``[IPv6]`` hosts), the ``jdbc:`` forms (``jdbc:<subprotocol>:<subname>``: the ``//`` may be left out,
as in ``jdbc:sybase:Tds:host:port/db``; the connectors' dialects read the rest, e.g.
``jdbc:sqlserver://host:port;databaseName=x;…`` in ``connectors/mssql.py``), object-store
URIs (``s3://bucket/folder``, ``abfss://container@account.dfs.core.windows.net/folder``) and
``Key=value;…`` connection strings and SAS URLs (``https://account.blob.core.windows.net/…?sig=…``),
kept whole in the connector's secret field.

Messages and notes never quote a value: only scheme, part and parameter names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from backend.connectors import registry
from backend.connectors.base import Connector
from backend.spec.fields import is_secret
from backend.spec.formfacts import COMMON_QUERY, URIDialect, URIError, URIFacts, URIParts
from backend.spec.forms import display_order, uri_facts
from backend.spec.schemas import HOOK_MODELS

_SCHEME_LIKE = re.compile(r"^((?:jdbc:)?[A-Za-z][A-Za-z0-9+.\-]{0,30}):", re.I)
"""A scheme, named back in a message (only ``jdbc:`` and one word: a longer ``a:b:`` could be a password)."""
_DRIVER = re.compile(r"^\+([A-Za-z0-9_]+)")
_SPLIT = re.compile(r"^(?P<netloc>[^/?#]*)(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#.*)?$", re.S)
_SETTING = re.compile(r"^[A-Za-z][A-Za-z0-9]*\s*=")
"""A ``Key=value;…`` connection string starts like this."""
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

_GENERIC = URIDialect()
"""The reading of a connector that declares no dialect of its own."""

__all__ = ["ParsedURI", "URIError", "parse_uri"]


@dataclass
class ParsedURI:
    connection: dict[str, Any]
    """A partial ``Create…Connector`` body, ``connector_type`` included (hook fields under ``hooks_params``)."""
    password_in_uri: bool = False
    """The text held a secret (a password, token, key or connection string)."""
    notes: list[str] = field(default_factory=list)
    """What was left out and why, by name (never a value)."""


@dataclass(frozen=True)
class _Reader:
    scheme: str
    connector: Connector
    facts: URIFacts


def parse_uri(text: str, connectors: Mapping[str, Connector] | None = None) -> ParsedURI:
    """``text`` as a partial body of the connector its scheme names (``connectors``: the registry by default)."""
    text = text.strip()
    found = registry() if connectors is None else connectors
    readers = [
        _Reader(scheme, connector, facts)
        for connector in display_order(found.values())
        if (facts := uri_facts(connector)) is not None
        for scheme in facts.schemes
    ]
    if not text:
        raise URIError(f"Paste a connection URI, e.g. {_examples(readers)}.")
    lowered = text.lower()
    for reader in sorted(readers, key=lambda r: -len(r.scheme)):
        rest = text[len(reader.scheme):]
        if lowered.startswith(reader.scheme) and rest[:1] in (":", "+"):
            return _Parser(reader).parse(rest)
    if _SETTING.match(text):
        return _connection_string(text, readers)
    if lowered.startswith(("https://", "http://")):
        return _secret_url(text, readers)
    match = _SCHEME_LIKE.match(text)
    if match is None:
        raise URIError(f"This is not a connection URI: it should start like {_examples(readers)}.")
    known = ", ".join(sorted({f"{r.scheme}:" for r in readers}))
    raise URIError(f"No connector of this wizard reads '{match.group(1).lower()}:' URIs. Use one of: {known}")


def _examples(readers: list[_Reader]) -> str:
    """The shortest example of each category (``mysql://…`` or ``s3://…``)."""
    shortest: dict[str, str] = {}
    for reader in readers:
        example, category = reader.facts.example, reader.connector.category
        if category not in shortest or len(example) < len(shortest[category]):
            shortest[category] = example
    return " or ".join(shortest.values()) or "scheme://user@host:port/database"


def _connection_string(text: str, readers: list[_Reader]) -> ParsedURI:
    """``Key=value;…`` (Azure Storage): the whole string goes to the connector field its keys call for."""
    keys = {k.strip().lower() for k, sep, _ in (p.partition("=") for p in text.split(";")) if sep and k.strip()}
    for reader in readers:
        for key, field_name in reader.facts.connection_strings.items():
            if key in keys:
                body = {"connector_type": reader.connector.type_name, field_name: text}
                return ParsedURI(body, password_in_uri=True)
    raise URIError("This looks like a connection string, but no connector reads one with these settings: "
                   "an Azure Storage connection string has AccountKey or SharedAccessSignature.")


def _secret_url(text: str, readers: list[_Reader]) -> ParsedURI:
    """``https://account.blob.core.windows.net/container?sv=…&sig=…``: the whole URL to the connector's secret field."""
    try:
        host = (urlsplit(text).hostname or "").lower()
    except ValueError:
        host = ""
    for reader in readers:
        for suffix, field_name in reader.facts.secret_urls.items():
            if host.endswith(suffix):
                return ParsedURI({"connector_type": reader.connector.type_name, field_name: text}, password_in_uri=True)
    suffixes = ", ".join(sorted({s for r in readers for s in r.facts.secret_urls})) or "none"
    raise URIError(f"No connector of this wizard reads http(s) URLs of this host (it reads those of: {suffixes}); "
                   f"use a connection URI such as {_examples(readers)}.")


class _Parser:
    """One URI read for one connector."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.connector = reader.connector
        self.body: dict[str, Any] = {"connector_type": reader.connector.type_name}
        self.result = ParsedURI(self.body)

    def parse(self, rest: str) -> ParsedURI:
        """``rest``: what follows the scheme (``+driver://…``, ``://…``, or a jdbc form's ``:…``)."""
        driver = _DRIVER.match(rest)
        if driver:
            self._driver(driver.group(1))
            rest = rest[driver.end():]
        if not rest.startswith(":"):
            raise URIError(f"After '{self.reader.scheme}' a URI goes on with '://', e.g. {self.reader.facts.example}.")
        parts, params = self._split(rest[1:])
        if parts["password"]:
            self.result.password_in_uri = True
        self._fill(parts)
        for key, value in params:
            self._parameter(key, value)
        return self.result

    def _split(self, rest: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The URI's parts (host, account, port, user, password, path, folder) and its parameters."""
        dialect = self.reader.facts.dialect or _GENERIC
        cut = dialect.read(self.reader.scheme, rest, self._cut)
        self.result.notes.extend(cut.notes)
        host, port = _host_port(cut.hostport)
        user, password, path = cut.user, cut.password, cut.path
        parts = {
            "host": unquote(host) if host else None,
            "account": unquote(host).split(".", 1)[0] if host else None,
            "port": port,
            "user": unquote(user) if user else None,
            "password": unquote(password) if password else None,
            "path": unquote(path).strip("/") or None,
            "folder": unquote(path) or None,
        }
        return parts, cut.parameters

    def _cut(self, rest: str) -> URIParts:
        """``//user:password@host:port/path?query`` cut into its parts (the ``//`` optional in a ``jdbc:`` form)."""
        scheme = self.reader.scheme
        if rest.startswith("//"):
            rest = rest[2:]
        elif not scheme.startswith("jdbc:"):
            raise URIError(f"After '{scheme}:' a URI goes on with '//', e.g. {self.reader.facts.example}.")
        split = _SPLIT.match(rest)
        assert split is not None  # the pattern matches any text
        netloc, path, query = split.group("netloc"), split.group("path"), split.group("query") or ""
        parts = URIParts(netloc, path)
        if "@" in netloc:
            userinfo, _, parts.hostport = netloc.rpartition("@")
            parts.user, _, raw_password = userinfo.partition(":")
            parts.password = raw_password or None
        parts.add_parameters(query, "&")
        return parts

    def _fill(self, parts: dict[str, Any]) -> None:
        """Each part to the field the facts give it; the host read as the account, the path as the folder, if so."""
        mapping = self.reader.facts.scheme_parts.get(self.reader.scheme, self.reader.facts.parts)
        read_as = {"host": "account", "path": "folder"}
        for part, value in parts.items():
            if value is None or (part not in mapping and (part in read_as.values() or read_as.get(part) in mapping)):
                continue
            target = mapping.get(part)
            if target is None:
                self.result.notes.append(f"The URI's {part} fits no field of {self.connector.label}; it was left out.")
            elif target:
                self._put(target, value, f"the URI's {part}")

    def _driver(self, driver: str) -> None:
        """``postgresql+psycopg2``: the driver goes to ``protocol`` when the connector knows it."""
        if "protocol" not in self.connector.model.model_fields:
            self.result.notes.append(f"{self.connector.label} has no driver choice; '+{driver}' was left out.")
            return
        known: Mapping[str, Any] = getattr(self.connector, "protocols", {}) or {}
        candidates = [f"{scheme}+{driver}".lower() for scheme in (self.reader.scheme, *self.reader.facts.schemes)]
        chosen = next((c for c in candidates if not known or c in known), None)
        if chosen is None:
            self.result.notes.append(f"The driver '{driver}' is not one {self.connector.label} knows "
                                     f"({', '.join(known)}); the default is kept.")
            return
        self.body["protocol"] = chosen

    def _parameter(self, key: str, value: str) -> None:
        lowered = key.lower()
        fields = self.connector.model.model_fields
        if lowered in self.reader.facts.query:
            target: str | None = self.reader.facts.query[lowered]
            if not target:
                return  # a parameter the connector's facts say to ignore (e.g. jdbc:databricks' transportMode)
        else:
            target = next((name for name in fields if name.lower() == lowered), None) or COMMON_QUERY.get(lowered)
        if target is None or not self._has(target):
            self.result.notes.append(f"The parameter '{key}' fits no field of {self.connector.label}; "
                                     f"it was left out.")
            return
        self._put(target, value, f"the parameter '{key}'")

    def _has(self, path: str) -> bool:
        if path.startswith("hooks_params."):
            _, hook, name = path.split(".", 2)
            return hook in self.connector.hooks and name in HOOK_MODELS[hook].model_fields
        return path in self.connector.model.model_fields and path not in ("connector_type", "hooks_params")

    def _put(self, path: str, value: Any, source: str) -> None:
        """Set a field (or ``hooks_params.<Hook>.<field>``), coerced to the field's type."""
        if path.startswith("hooks_params."):
            _, hook, name = path.split(".", 2)
            info = HOOK_MODELS[hook].model_fields[name]
            hooks = self.body.setdefault("hooks_params", {})
            hooks.setdefault(hook, {})[name] = _coerce(info, value, source, path)
        else:
            info = self.connector.model.model_fields[path]
            self.body[path] = _coerce(info, value, source, path)
        if is_secret(info):
            self.result.password_in_uri = True


def _host_port(hostport: str) -> tuple[str | None, int | None]:
    """``host``, ``host:port`` or ``[::1]:port``."""
    if "," in hostport:
        raise URIError("This URI names several hosts (host1,host2): the wizard tests one at a time; keep one.")
    if hostport.startswith("["):
        host, bracket, after = hostport[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise URIError("An IPv6 address in a URI goes in brackets, e.g. [2001:db8::7]:5432.")
        port_text = after[1:] if after else ""
    else:
        host, _, port_text = hostport.partition(":")
    port = None
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise URIError("The port in this URI is not a number between 1 and 65535.")
        port = int(port_text)
    return host or None, port


def _coerce(info: FieldInfo, value: Any, source: str, path: str) -> Any:
    """The value as the field's type wants it (an int port, a boolean flag); URIError when it cannot be."""
    kinds = {a for a in getattr(info.annotation, "__args__", (info.annotation,)) if a is not type(None)}
    if isinstance(value, str) and int in kinds:
        if not value.isdigit():
            raise URIError(f"{source[:1].upper()}{source[1:]} should be a whole number for '{path}'.")
        return int(value)
    if isinstance(value, str) and bool in kinds:
        lowered = value.lower()
        if lowered not in _TRUE + _FALSE:
            raise URIError(f"{source[:1].upper()}{source[1:]} should be true or false for '{path}'.")
        return lowered in _TRUE
    if any(isinstance(k, type) and issubclass(k, BaseModel) for k in kinds):  # pragma: no cover - never mapped
        raise URIError(f"'{path}' cannot be given in a URI.")
    return value
