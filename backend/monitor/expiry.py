"""What will expire, and the warning 14 days before (docs/design.md, "Connection health over time").

Connectors tell what they learned in the verdict's payload:

- the server certificate's end of validity, seen in the TLS handshake: ``payload.tls.not_after``
  (ISO 8601 UTC), set by the TLS hook (:func:`backend.hooks.tls.state_of_socket`) or the connector;
- a password's expiry the database records: ``payload.server.password_expires_at`` (ISO 8601 UTC).

:func:`forecast` turns them into ``payload.server.expires`` (``[{"what", "at", "days_left"}]``),
and a successful verdict within :data:`WARN_DAYS` days of an expiry that will break the connection
into a ``warning`` saying what expires when and what to do: a password's always, a certificate's
only where the connection verifies it (an unverified certificate breaks nothing when it expires).
An expiry that cannot be known is left out, never guessed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from backend.diagnosis.messages import Code
from backend.spec.schemas import ApplicationMessage, SystemMessageKind

WARN_DAYS = 14
DAY_S = 86400.0


def parse_iso(text: Any) -> float | None:
    """A timestamp from ISO 8601 text (``Z`` or an offset; naive is UTC); None when unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def iso(ts: float) -> str:
    """ISO 8601 UTC, seconds: ``2026-12-17T10:00:00Z``."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def entry(what: str, at: float, now: float) -> dict[str, Any]:
    """One ``expires`` item; ``days_left`` in whole days, rounded down (negative once past)."""
    return {"what": what, "at": iso(at), "days_left": math.floor((at - now) / DAY_S)}


def refreshed(expires: list[dict[str, Any]] | None, now: float) -> list[dict[str, Any]]:
    """Stored ``expires`` items with ``days_left`` counted again at ``now``."""
    out = []
    for item in expires or []:
        at = parse_iso(item.get("at"))
        if at is not None and item.get("what") in ("tls_certificate", "password"):
            out.append(entry(str(item["what"]), at, now))
    return out


def learned(payload: dict[str, Any]) -> list[tuple[str, float]]:
    """``(what, when)`` of every expiry the connector learned (see the module's docstring)."""
    found: list[tuple[str, float]] = []
    tls = payload.get("tls") if isinstance(payload.get("tls"), dict) else {}
    cert = parse_iso(tls.get("not_after")) if tls else None
    if cert is not None:
        found.append(("tls_certificate", cert))
    server = payload.get("server") if isinstance(payload.get("server"), dict) else {}
    password = parse_iso(server.get("password_expires_at")) if server else None
    if password is not None:
        found.append(("password", password))
    return found


def _days(seconds: float) -> str:
    days = math.floor(seconds / DAY_S)
    return "today" if days <= 0 else "tomorrow" if days == 1 else f"in {days} days"


def forecast(message: ApplicationMessage, now: float) -> ApplicationMessage:
    """``payload.server.expires`` filled in; a successful verdict near a breaking expiry made a warning."""
    payload = message.payload if isinstance(message.payload, dict) else None
    if payload is None:
        return message
    found = learned(payload)
    if not found:
        return message
    server = dict(payload.get("server") or {})
    server["expires"] = [entry(what, at, now) for what, at in found]
    payload = {**payload, "server": server}
    update: dict[str, Any] = {"payload": payload}
    if message.code == Code.CONNECTION_SUCCESSFUL:
        tls = payload.get("tls") if isinstance(payload.get("tls"), dict) else {}
        verified = bool(tls and tls.get("enabled") and tls.get("verified"))
        notes: list[str] = []
        titles: list[str] = []
        for what, at in sorted(found, key=lambda item: item[1]):
            if at - now > WARN_DAYS * DAY_S or (what == "tls_certificate" and not verified):
                continue
            day = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
            when = _days(at - now)
            if what == "password":
                titles.append(f"the password expires {when}")
                notes.append(
                    f"The password of this user expires on {day} ({when}); after that the database refuses the login. "
                    "Set a new password on the database and enter it in the saved connection before then."
                )
            else:
                titles.append(f"the server's certificate expires {when}")
                notes.append(
                    f"The server's TLS certificate expires on {day} ({when}); after that this connection, which "
                    "verifies it, fails. Ask the database's administrator to renew the certificate before then."
                )
        if notes:
            title = "Connected, but " + " and ".join(titles)
            update.update(
                kind=SystemMessageKind.warning,
                title=title[:1].upper() + title[1:],
                body=" ".join(notes) + " " + message.body,
            )
    return message.model_copy(update=update)
