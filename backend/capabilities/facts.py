"""What a connector's examination finds, before the rules turn it into the answer's items.

Each connector module (``backend/capabilities/<connector>.py``) reads its database's privilege
catalog and returns :class:`Findings`: one :class:`Finding` per capability it can tell, per
basic access, and any extra need of a functionality (e.g. MySQL's ``local_infile`` for bulk
loading). The wording helpers here keep every reason naming the objects concerned in the same
way ("you may insert into 12 of the 14 tables of schema sales; not into audit_log, events").
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from backend.capabilities.schemas import AccessName, CapabilityStatus
from backend.spec.schemas import FunctionalityCapabilityName

CAPABILITY_NAMES = tuple(n.value for n in FunctionalityCapabilityName)
ACCESS_NAMES = tuple(n.value for n in AccessName)

NAMES_SHOWN = 5
"""How many object names a reason lists before "and N more"."""


@dataclass
class Finding:
    """One item's own status, before dependencies are followed."""

    status: CapabilityStatus
    reason: str
    fix: str | None = None

    @classmethod
    def available(cls, reason: str) -> Finding:
        return cls(CapabilityStatus.available, reason)

    @classmethod
    def unavailable(cls, reason: str, fix: str | None) -> Finding:
        return cls(CapabilityStatus.unavailable, reason, fix)

    @classmethod
    def unknown(cls, reason: str) -> Finding:
        return cls(CapabilityStatus.unknown, reason)


@dataclass
class Findings:
    """Everything one examination found."""

    scope: str
    """What was examined, e.g. "database appdb, schema sales"."""
    capabilities: dict[str, Finding] = field(default_factory=dict)
    """By FunctionalityCapabilityName; a name left out is ``unknown`` (not examined)."""
    access: dict[str, Finding] = field(default_factory=dict)
    """By READ, WRITE, CREATE, DELETE."""
    requirements: dict[str, list[tuple[str, Finding]]] = field(default_factory=dict)
    """Extra needs of a functionality beyond its capabilities: FunctionalityName → [(what, finding)]."""
    schema_missing: str | None = None
    """The schema asked for does not exist: the verdict becomes SCHEMA_NOT_FOUND."""
    leftovers: list[str] = field(default_factory=list)
    """Probe objects that could not be removed: named in the verdict as a warning."""
    notes: list[str] = field(default_factory=list)
    """Sentences for the verdict's body (what the write probe did)."""
    schemas: list[str] | None = None
    """The schemas this user can see in the database (None: the connector has none, or they could not be listed)."""


def probe_name() -> str:
    """A throwaway object's name: ``wizard_probe_<random>`` (lower case: valid unquoted in every database)."""
    return f"wizard_probe_{secrets.token_hex(5)}"


def listed(names: Sequence[str], shown: int = NAMES_SHOWN) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 3 more``."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def coverage(
    verb: str, where: str, tables: Sequence[str], allowed: Iterable[str], fix: str | None, *, none_left: str = ""
) -> Finding:
    """A finding for a privilege needed on every table of ``where`` ("schema sales").

    ``verb`` reads after "you may" ("insert into", "truncate"). Without tables there is nothing to
    be refused: available, saying so (``none_left`` may add what happens to tables created later).
    """
    allowed_set = set(allowed)
    if not tables:
        return Finding.available(f"{where} has no tables yet, so none can be refused.{none_left}".strip())
    refused = [t for t in tables if t not in allowed_set]
    total = len(tables)
    if not refused:
        every = "the only table" if total == 1 else f"all {total} tables"
        return Finding.available(f"You may {verb} {every} of {where}.")
    if len(refused) == total:
        of = "the only table" if total == 1 else f"any of the {total} tables"
        return Finding.unavailable(f"You may not {verb} {of} of {where} ({listed(refused)}).", fix)
    return Finding.unavailable(
        f"You may {verb} {total - len(refused)} of the {total} tables of {where}; not {listed(refused)}.", fix
    )


def worst(findings: Iterable[Finding]) -> CapabilityStatus:
    """unavailable beats unknown beats available (not_supported never comes here)."""
    statuses = {f.status for f in findings}
    for status in (CapabilityStatus.unavailable, CapabilityStatus.unknown):
        if status in statuses:
            return status
    return CapabilityStatus.available
