"""From findings to the answer's items: every name once, in the spec's order, following ``depends_on``.

The connector's ``functionalities`` (the same metadata ``GET …/functionalities/`` serves) decide
what is ``not_supported``: a capability that none of its functionalities lists, a functionality
it does not have. A capability also needs what it depends on in any of them: truncating a
table others point at needs its foreign keys dropped first (``DATA_TRUNCATION`` depends on
``FOREIGN_KEY_MANAGEMENT``), so it is only as available as both. A functionality needs WRITE,
each of its capabilities (with their dependencies) and its connector-specific extras.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from backend.capabilities.facts import ACCESS_NAMES, CAPABILITY_NAMES, Finding, Findings, worst
from backend.capabilities.schemas import CapabilityItem, CapabilityStatus
from backend.connectors.base import Connector
from backend.spec.formfacts import label_of
from backend.spec.schemas import FunctionalityName

MAX_WORDS = 25
"""An item's reason is one plain sentence of at most this many words; the rest goes into ``fix`` as SQL comments."""
CONFIRMED = "Confirmed by the write probe"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")

FUNCTIONALITY_NAMES = tuple(n.value for n in FunctionalityName)


def dependencies(connector: Connector) -> dict[str, set[str]]:
    """Capability → what it depends on in any of the connector's functionalities (only those it lists)."""
    deps: dict[str, set[str]] = {}
    for functionality in connector.functionalities:
        for capability in functionality.capabilities or []:
            if capability.name is not None:
                deps.setdefault(capability.name.value, set()).update(capability.depends_on or [])
    return deps


def _closure(name: str, deps: dict[str, set[str]]) -> list[str]:
    """Everything ``name`` depends on, directly or not, in the spec's order."""
    seen: set[str] = set()
    todo = list(deps.get(name, ()))
    while todo:
        current = todo.pop()
        if current not in seen and current != name:
            seen.add(current)
            todo.extend(deps.get(current, ()))
    return [n for n in CAPABILITY_NAMES if n in seen]


def unknown_items(names: Iterable[str], reason: str, fix: str | None = None) -> list[CapabilityItem]:
    return [CapabilityItem(name=n, status=CapabilityStatus.unknown, reason=reason, fix=fix) for n in names]


def plain(name: str) -> str:
    """A capability, functionality or access name as people read it ("Manage foreign keys", never the enum)."""
    return label_of(name).lower() if name in CAPABILITY_NAMES or name in FUNCTIONALITY_NAMES or name in ACCESS_NAMES \
        else name


def split_reason(text: str) -> tuple[str, str]:
    """(the first sentence, the rest): the item shows the one, the fix carries the other as comments."""
    parts = _SENTENCE_END.split(text.strip(), maxsplit=1)
    first = parts[0].strip()
    rest = parts[1].strip() if len(parts) > 1 else ""
    if rest.startswith(CONFIRMED):  # said within the sentence: what the probe saw is no side note
        first = f"{first.rstrip('.')} ({CONFIRMED[0].lower()}{CONFIRMED[1:]})."
        after = _SENTENCE_END.split(rest, maxsplit=1)
        rest = after[1].strip() if len(after) > 1 else ""
    words = first.split()
    if len(words) > MAX_WORDS:  # a long list of names: cut it where the words run out
        first, rest = " ".join(words[:MAX_WORDS]).rstrip(",;:") + "…", f"{first} {rest}".strip()
    return first, rest


def _fixes(findings: Iterable[Finding]) -> str | None:
    lines: list[str] = []
    for finding in findings:
        for line in (finding.fix or "").splitlines():
            if line and line not in lines:
                lines.append(line)
    return "\n".join(lines) or None


def _combine(own: Finding, needs: list[tuple[str, Finding]]) -> Finding:
    """``own`` as far as every one of ``needs`` allows, naming (in plain words) which need is missing and how to fix it."""
    missing = [(what, f) for what, f in needs if f.status != CapabilityStatus.available]
    status = worst([own, *(f for _, f in missing)])
    if not missing:
        return own
    needed = " and ".join(f"{plain(what)} ({f.status.value})" for what, f in missing)
    also = " ".join(f.reason for _, f in missing)
    if own.status == CapabilityStatus.available:  # its own part is fine: what it still needs comes first
        reason = f"It also needs {needed}. {also} {own.reason}"
    else:
        first, rest = split_reason(own.reason)
        reason = f"{first} {rest} It also needs {needed}. {also}"
    fixes = [own] if own.status != CapabilityStatus.available else []
    return Finding(status, " ".join(reason.split()), _fixes([*fixes, *(f for _, f in missing)]))


def item_of(name: str, finding: Finding) -> CapabilityItem:
    """One item: one plain sentence; what else the finding says is folded into the fix as SQL comments."""
    first, rest = split_reason(finding.reason)
    fix = finding.fix
    if fix and rest:
        fix = "\n".join([*(f"-- {line}" for line in _wrapped(rest)), fix])
    return CapabilityItem(name=name, status=finding.status, reason=first, fix=fix)


def _wrapped(text: str, width: int = 100) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current] if current else lines


def capability_items(connector: Connector, findings: Findings) -> list[CapabilityItem]:
    deps = dependencies(connector)
    own = {
        name: findings.capabilities.get(name) or Finding.unknown("This was not examined for this connection.")
        for name in deps
    }
    items = []
    for name in CAPABILITY_NAMES:
        if name not in deps:
            items.append(_not_supported_capability(connector, name))
            continue
        needs = [(dep, own[dep]) for dep in _closure(name, deps) if dep in own]
        items.append(item_of(name, _combine(own[name], needs)))
    return items


def functionality_items(connector: Connector, findings: Findings, capabilities: list[CapabilityItem]) -> list[CapabilityItem]:
    by_name = {f.name.value: f for f in connector.functionalities if f.name is not None}
    cap_findings = {i.name: Finding(i.status, i.reason, i.fix) for i in capabilities}
    write = findings.access.get("WRITE") or Finding.unknown("WRITE was not examined for this connection.")
    items = []
    for name in FUNCTIONALITY_NAMES:
        functionality = by_name.get(name)
        if functionality is None:
            items.append(CapabilityItem(name=name, status=CapabilityStatus.not_supported,
                              reason=f"{connector.label} connections do not offer this functionality.", fix=None))
            continue
        needs: list[tuple[str, Finding]] = [("WRITE", write)]
        needs += [(c.name.value, cap_findings[c.name.value]) for c in functionality.capabilities or [] if c.name]
        needs += findings.requirements.get(name, [])
        status = worst(f for _, f in needs)
        if status == CapabilityStatus.available:
            items.append(CapabilityItem(name=name, status=status, reason="Everything it needs is available.", fix=None))
            continue
        missing = [(what, f) for what, f in needs if f.status != CapabilityStatus.available]
        listed = [plain(what) for what, _ in missing]
        shown = ", ".join(listed[:-1]) + (" and " if len(listed) > 1 else "") + listed[-1]
        reason = f"It needs {shown}, which {'is' if len(missing) == 1 else 'are'} not available yet."
        if len(missing) == 1 and missing[0][1].status == CapabilityStatus.unknown:
            reason = f"It needs {shown}, which could not be told."
        reason = " ".join([reason, *(f.reason for _, f in missing if f.fix)])  # the rest is folded into the fix
        items.append(item_of(name, Finding(status, reason, _fixes(f for _, f in missing))))
    return items


def access_items(findings: Findings) -> list[CapabilityItem]:
    items = []
    for name in ACCESS_NAMES:
        finding = findings.access.get(name) or Finding.unknown("This was not examined for this connection.")
        items.append(item_of(name, finding))
    return items


def _not_supported_capability(connector: Connector, name: str) -> CapabilityItem:
    reason = f"{connector.label} connections never need to {plain(name)} when writing."
    return CapabilityItem(name=name, status=CapabilityStatus.not_supported, reason=reason, fix=None)
