"""Keep secrets out of every text the wizard writes: responses, logs and exception texts.

Three layers:

* :func:`scrub` masks the known secret values of a request (in every spelling a driver
  might echo them: quoted, escaped, URL-encoded, JSON-encoded) and every credential-looking
  pattern (``user:password@`` in URLs, ``password=…`` pairs, PEM private keys, bearer
  tokens, JWTs, ``Authorization`` headers).
* :class:`LiveSecrets` holds the secret values of the tests in flight (and for a grace
  period after, while abandoned driver threads may still log): every log record of the
  process is scrubbed of them, whichever logger wrote it.
* :func:`install_log_scrubbing` wraps the process's log-record factory so that *every*
  record (the wizard's, uvicorn's, a driver's such as paramiko's) is scrubbed when it is
  created, its exception text included; :class:`SecretFilter` does the same on handlers.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from backend.logrecords import on_every_record

MASK = "••••••"

_KEYS = (
    r"password|passwd|pwd|pass|passphrase|pkey_password|key_password|secret|client_secret|"
    r"secret_access_key|aws_secret_access_key|accountkey|account_key|sharedaccesssignature|sas_token|sig|"
    r"x-amz-signature|signature|x-amz-security-token|security_token|session_token|token|access_token|"
    r"refresh_token|id_token|api_key|apikey|private_key|credential_secret|sessionid"
)

# Things that look like credentials whatever field they came from.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    # PEM private keys, complete or cut short (everything after BEGIN up to END or a blank line)
    re.compile(
        r"(?P<keep>)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[A-Za-z0-9+/=\s:,\-]*)",
        re.S,
    ),
    # Authorization headers: "Authorization: Basic dXNlcjpwYXNz", "Bearer eyJ…", "Negotiate …"
    re.compile(r"(?i)(?P<keep>\bauthorization[\"']?\s*[=:]\s*[\"']?(?:[a-z\-]+\s+)?)[^\s\"',;]+"),
    re.compile(r"(?i)(?P<keep>\b(?:bearer|basic|negotiate)\s+)[A-Za-z0-9\-._~+/]{8,}=*"),
    # JSON Web Tokens anywhere (header.payload.signature, base64url)
    re.compile(r"(?P<keep>)\beyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
    # user:password@ in any URL or DSN (greedy: a password may itself contain '@')
    re.compile(r"(?P<keep>[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)[^\s]*(?=@)"),
    # key=value / key: value pairs in connection strings, DSNs, JSON and Python reprs;
    # ODBC braces (PWD={a;b}) and quoted values are taken whole. Not a value: what opens a
    # structure (`"password": [` in JSON, `{` of a dict), brackets that close the sentence
    # around it, and MySQL/MariaDB's own `(using password: YES)` / `NO`.
    re.compile(
        rf"(?i)(?P<keep>(?<![A-Za-z0-9])[\"']?(?:{_KEYS})[\"']?\s*[=:]\s*)"
        r"(?!(?:YES|NO)\b)"
        r"(?:\{[^}]*\}|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s;,&'\"{}\[\]()][^\s;,&'\"}\]]*(?<!\)))"
    ),
)


# What each pattern of _PATTERNS cannot match without (in the text as `_folded` spells it): a pattern
# whose gate is absent is not run. A gate may let through a text its pattern then leaves alone, never
# the reverse (tests/test_secrets.py checks every key word of _KEYS against the key=value gate).
_KEY_GATES = ("pass", "pwd", "secret", "accountkey", "account_key", "sharedaccesssignature", "sig", "token",
              "api_key", "apikey", "private_key", "sessionid")
_GATES: tuple[tuple[str, ...], ...] = (
    ("-----BEGIN",),
    ("authorization",),
    ("bearer", "basic", "negotiate"),
    ("eyJ",),
    ("://",),
    _KEY_GATES,
)
_CASE_SENSITIVE_GATES = (0, 3, 4)


def _maybe_credentials(text: str, folded: str) -> bool:
    """Whether any pattern of _PATTERNS could match: each needs ``=``, ``:`` (of ``://`` too), ``-----BEGIN``,
    ``eyJ`` or one of the words of the bearer/basic/negotiate pattern. Plain substring tests, not a regular
    expression scanning the text: most texts masked are the wizard's own short words and sentences, dozens
    per verdict."""
    return (
        "=" in text or ":" in text or "-----BEGIN" in text or "eyJ" in text
        or "bearer" in folded or "basic" in folded or "negotiate" in folded
    )


def _folded(text: str) -> str:
    """``text`` as the gates of the case-insensitive patterns read it: case-folded, and the two letters
    that ``re``'s IGNORECASE matches with ``i`` but ``casefold()`` does not make ``i`` (ı, İ) made ``i``."""
    return text.casefold().replace("\u0131", "i").replace("i\u0307", "i")

_MIN_SAFE = 4
"""Secrets shorter than this are masked only where they stand alone as a word."""

# A short secret "stands alone" between whitespace, quotes, brackets or separators — not inside
# a word, a number or an address (a password "0" must not turn 127.0.0.1 into 127.••.••.1).
_ALONE_BEFORE = r"(?<![^\s'\"=(\[{,;])"
_ALONE_AFTER = r"(?=$|[\s'\")\]},;]|\.(?:\s|$))"


def _variants(secret: str) -> set[str]:
    """The spellings in which a driver or a serialiser may echo ``secret``."""
    variants = {
        secret,
        secret.replace("'", "''"),
        secret.replace("'", "\\'"),
        secret.replace("\\", "\\\\"),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
        urllib.parse.quote(secret),
    }
    return {v for v in variants if v}


class Masker:
    """Masks a fixed set of secret values, every spelling at once, with one compiled pattern.

    Build it once per request (or per set of live secrets) and use it on every string: the
    spellings are computed and compiled once, not per string.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for secret in {s for s in secrets if s}:
            variants |= _variants(secret)
        ordered = sorted(variants, key=len, reverse=True)  # longest first: a secret inside another
        escaped = [(re.escape(v), len(v) >= _MIN_SAFE) for v in ordered]  # once each: re.escape is slow
        parts = [e if long else f"{_ALONE_BEFORE}{e}{_ALONE_AFTER}" for e, long in escaped]
        self.pattern = re.compile("|".join(parts)) if parts else None
        self._long = [e for e, long in escaped if long]
        self._done: dict[str, str] = {}

    @functools.cached_property
    def long_pattern(self) -> re.Pattern[str] | None:
        """The long secrets alone, compiled on first use (only log records need it, not responses)."""
        return re.compile("|".join(self._long)) if self._long else None

    def __call__(self, text: str) -> str:
        """Replace every known secret value and every credential-looking pattern by a mask."""
        return self._mask(text, self.pattern)

    def long_only(self, text: str) -> str:
        """Like calling the masker, but short secrets (under four characters) are left alone.

        For a text assembled from parts already masked one by one: a short secret was
        masked where it stood alone in a part, and is not looked for again across the
        joins, where it would hit the program's own numbers (a password "7" must not
        mask ``duration_ms=7``).
        """
        return self._mask(text, self.long_pattern)

    @staticmethod
    def _mask(text: str, values: re.Pattern[str] | None) -> str:
        if not text:
            return text
        if values is not None:
            text = values.sub(MASK, text)
        folded = _folded(text)
        if not _maybe_credentials(text, folded):
            return text
        for index, (pattern, gate) in enumerate(zip(_PATTERNS, _GATES, strict=True)):
            seen = text if index in _CASE_SENSITIVE_GATES else folded
            if any(word in seen for word in gate):
                masked = pattern.sub(_keep_mask, text)
                if masked != text:
                    text, folded = masked, _folded(masked)
        return text

    def obj(self, value: Any) -> Any:
        """Scrub every string inside a JSON-like value (dict keys included)."""
        if isinstance(value, str):
            return self._remembered(value)
        if isinstance(value, dict):
            # A verdict's keys and words come again and again: looked up here, without a call per leaf.
            done, out = self._done, {}
            for k, v in value.items():
                key = done.get(k) if type(k) is str else None
                if key is None:
                    key = self.obj(k)
                kind = type(v)
                if kind is str:
                    item = done.get(v)
                    out[key] = item if item is not None else self._remembered(v)
                else:
                    out[key] = v if kind in _PLAIN else self.obj(v)
            return out
        if isinstance(value, (list, tuple)):
            return [v if type(v) in _PLAIN else self.obj(v) for v in value]
        return value

    def _remembered(self, text: str) -> str:
        """``self(text)``, remembered for short texts: a verdict repeats its keys and words (``name``,
        ``status``, ``passed``) dozens of times, and a masker serves one request or one set of live secrets."""
        done = self._done.get(text)
        if done is None:
            done = self(text)
            if len(text) <= _REMEMBERED_CHARS and len(self._done) < _REMEMBERED_TEXTS:
                self._done[text] = done
        return done


_PLAIN = frozenset({int, float, bool, type(None)})
"""Types whose values hold no text to mask."""
_REMEMBERED_CHARS = 200
_REMEMBERED_TEXTS = 1000
"""What a masker remembers of the texts it masked (:meth:`Masker.obj`): short ones only, and a bounded number."""


def _keep_mask(match: re.Match[str]) -> str:
    return f"{match.group('keep')}{MASK}"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value and every credential-looking pattern by a mask.

    A secret of fewer than four characters is masked only where it stands alone, so that
    a one-letter password does not mangle every word that contains the letter.
    """
    return Masker(secrets)(text) if text else text


def scrub_obj(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Scrub every string inside a JSON-like value (dict keys included)."""
    return Masker(secrets).obj(value)


# --- the secrets of the tests in flight -------------------------------------------------------


class LiveSecrets:
    """Secret values of the tests in flight, kept ``grace_s`` after each test ends.

    Driver threads abandoned at the deadline may log after their test has answered, and an
    error escaping a request is logged by the server after the request's handlers are done:
    the grace period covers both.
    """

    def __init__(self, grace_s: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self.clock = clock
        self._lock = threading.Lock()
        self._active: dict[int, tuple[str, ...]] = {}
        self._ending: dict[tuple[str, ...], float] = {}
        """Each set of values no longer held → until when it is still live (the latest end of a test that held it)."""
        self._next = 0
        self._masker: tuple[tuple[str, ...], Masker] = ((), Masker())
        self._maskers: dict[tuple[str, ...], Masker] = {}
        """The masker of each set of values live now: compiled once while a connection is tested again and again."""

    @contextlib.contextmanager
    def hold(self, secrets: Iterable[str]) -> Iterator[Masker]:
        """Hold ``secrets`` live while the block runs (and ``grace_s`` after); gives their :class:`Masker`."""
        values = tuple(sorted({s for s in secrets if s}))
        if not values:
            yield Masker()
            return
        with self._lock:
            self._next += 1
            token = self._next
            self._active[token] = values
            masker = self._maskers.get(values)
        if masker is None:
            masker = Masker(values)  # outside the lock: compiling takes a while
            with self._lock:
                masker = self._maskers.setdefault(values, masker)
        try:
            yield masker
        finally:
            with self._lock:
                self._active.pop(token, None)
                self._ending[values] = self.clock() + self.grace_s

    def values(self) -> list[str]:
        now = self.clock()
        with self._lock:
            expired = [values for values, until in self._ending.items() if until <= now]
            for values in expired:
                del self._ending[values]
            held = set(self._active.values())
            for values in expired:
                if values not in held:
                    self._maskers.pop(values, None)
            found = [s for values in held for s in values]
            found += [s for values in self._ending if values not in held for s in values]
        return found

    def forget_ended(self) -> None:
        """Drop the secrets of the tests that have ended, grace period or not (the test suite, between its
        tests: one test's one-letter password must not mask a word of the next test's log lines)."""
        with self._lock:
            held = set(self._active.values())
            self._ending.clear()
            self._maskers = {values: masker for values, masker in self._maskers.items() if values in held}

    def masker(self) -> Masker:
        """A masker of the live secrets, compiled again only when the set of them changes (not when another
        test holds the same values again: a user testing one connection over and over compiles nothing)."""
        values = tuple(sorted(set(self.values())))
        key, masker = self._masker
        if values != key:
            masker = Masker(values)
            self._masker = (values, masker)
        return masker


LIVE = LiveSecrets()

PRESCRUBBED_LOGGERS = frozenset({"wizard.audit"})
"""Loggers whose records hold only values the wizard scrubbed itself with the request's own secrets
(the audit line: user, connector, target, code, duration). The live secrets of other tests are not
looked for in them — one user's one-letter password must not blank another user's audit line —
while credential-looking patterns still are."""


# --- logging ----------------------------------------------------------------------------------

_PATTERNS_ONLY = Masker()
_NUMBERS = (int, float)


def _scrub_arg(arg: Any, live: Masker) -> Any:
    """One log argument, scrubbed. Numbers are the program's own (counts, durations, ports)
    and stay as they are; any other object is scrubbed as the text it would print."""
    if isinstance(arg, str):
        return live(arg)
    if arg is None or isinstance(arg, _NUMBERS):
        return arg
    text = str(arg)
    cleaned = live(text)
    return arg if cleaned == text else cleaned


def _scrub_args(args: Any, live: Masker) -> Any:
    """The record's arguments scrubbed one by one, same shape (formatters may unpack them)."""
    if isinstance(args, tuple):
        return tuple(_scrub_arg(a, live) for a in args)
    if isinstance(args, dict):
        return {k: _scrub_arg(v, live) for k, v in args.items()}
    return args


def _scrub_parts(record: logging.LogRecord, live: Masker) -> bool:
    """Scrub a ``msg % args`` record part by part; False when the record has no such parts.

    The template and each argument are masked on their own, then the joined text once more
    for what only shows across a join (``password=%s``) — with long secrets only, so that a
    short secret is never found in the program's own numbers.
    """
    if not record.args or not isinstance(record.msg, str):
        return False
    try:
        template = live(record.msg)
        args = _scrub_args(record.args, live)
        joined = template % args
    except Exception:  # noqa: BLE001 - the shape did not survive masking: fall back on the text
        return False
    final = live.long_only(joined)
    if final == joined:
        record.msg, record.args = template, args
    else:
        record.msg, record.args = final, None
    return True


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub a record's final text in place: its message, its arguments and its exception text.

    The arguments keep their shape when that is enough (uvicorn's access formatter unpacks
    them) and numbers among them are never masked; otherwise the record carries the scrubbed
    message and no arguments. A traceback
    is formatted here and scrubbed like the message (chained exceptions included).
    """
    if getattr(record, "_wizard_scrubbed", False):
        return record
    live = _PATTERNS_ONLY if record.name in PRESCRUBBED_LOGGERS else LIVE.masker()
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken log call must not break the request
        message = f"{record.msg} {record.args!r}"
        record.msg, record.args = message, None
    cleaned = live(message)
    if cleaned != message and not _scrub_parts(record, live):
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        record.exc_info = None
    if record.exc_text:
        record.exc_text = live(record.exc_text)
    if record.stack_info:
        record.stack_info = live(record.stack_info)
    setattr(record, "_wizard_scrubbed", True)  # noqa: B010 - LogRecord has no such declared field
    return record


class SecretFilter(logging.Filter):
    """A logging filter that scrubs each record's final text of credentials and live secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def install_log_scrubbing() -> None:
    """Scrub every log record of the process when it is made (idempotent): whichever logger makes
    it, the wizard's own, a driver's or uvicorn's, and whichever handler writes it."""
    on_every_record("scrub-secrets", _scrubbed_or_withheld)


def _scrubbed_or_withheld(record: logging.LogRecord) -> logging.LogRecord:
    try:
        return scrub_record(record)
    except Exception:  # noqa: BLE001 - never lose a record because scrubbing failed
        record.msg, record.args, record.exc_info, record.exc_text = "(log record withheld)", None, None, None
        return record
