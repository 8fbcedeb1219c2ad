"""Keep secrets out of every text the wizard writes: responses, logs and exception texts."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

MASK = "••••••"

# Things that look like credentials whatever field they came from.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    # user:password@ in any URL or DSN
    re.compile(r"(?P<keep>[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)[^\s@]*(?=@)"),
    # key=value pairs in connection strings and DSNs
    re.compile(
        r"(?i)(?P<keep>\b(?:password|passwd|pwd|accountkey|sharedaccesssignature|sig|token|secret|"
        r"aws_secret_access_key|access_token|pkey_password)\s*[=:]\s*)(?:'[^']*'|\"[^\"]*\"|[^\s;,&'\"]+)"
    ),
    # PEM blocks
    re.compile(r"(?P<keep>)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S),
    # Bearer tokens
    re.compile(r"(?i)(?P<keep>\bbearer\s+)[A-Za-z0-9\-._~+/]+=*"),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value and every credential-looking pattern by a mask.

    A secret of fewer than four characters is masked only where it stands alone, so that
    a one-letter password does not mangle every word that contains the letter.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        variants = {secret, secret.replace("'", "''"), secret.replace("\\", "\\\\"), repr(secret)[1:-1]}
        for variant in variants:
            if len(variant) >= 4:
                text = text.replace(variant, MASK)
            else:
                text = re.sub(rf"(?<![\w]){re.escape(variant)}(?![\w])", MASK, text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('keep')}{MASK}", text)
    return text


def scrub_obj(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Scrub every string inside a JSON-like value (dict keys included)."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {scrub_obj(k, secrets): scrub_obj(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_obj(v, secrets) for v in value]
    return value


class SecretFilter(logging.Filter):
    """A logging filter that scrubs each record's final text of credential patterns."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log call must not break the request
            return True
        cleaned = scrub(message)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            cleaned = f"{cleaned} [{type(exc).__name__}: {scrub(str(exc))}]"
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = cleaned, None
        return True
