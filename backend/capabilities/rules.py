"""From findings to the answer's items: every name once, in the spec's order, following ``depends_on``.

The connector's ``functionalities`` (the same metadata ``GET …/functionalities/`` serves) decide
what is ``not_supported``: a capability that none of its functionalities lists, a functionality
it does not have. A capability also needs what it depends on in any of them: truncating a
table others point at needs its foreign keys dropped first (``DATA_TRUNCATION`` depends on
``FOREIGN_KEY_MANAGEMENT``), so it is only as available as both. A functionality needs WRITE,
each of its capabilities (with their dependencies) and its connector-specific extras.
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.capabilities.facts import ACCESS_NAMES, CAPABILITY_NAMES, Finding, Findings, worst
from backend.capabilities.schemas import CapabilityItem, CapabilityStatus
from backend.connectors.base import Connector
from backend.schemas import FunctionalityName

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


def unknown_items(names: Iterable[str], reason: str) -> list[CapabilityItem]:
    return [CapabilityItem(name=n, status=CapabilityStatus.unknown, reason=reason, fix=None) for n in names]


def _fixes(findings: Iterable[Finding]) -> str | None:
    lines: list[str] = []
    for finding in findings:
        for line in (finding.fix or "").splitlines():
            if line and line not in lines:
                lines.append(line)
    return "\n".join(lines) or None


def _combine(own: Finding, needs: list[tuple[str, Finding]]) -> Finding:
    """``own`` as far as every one of ``needs`` allows, saying which need is missing and how to fix it."""
    missing = [(what, f) for what, f in needs if f.status != CapabilityStatus.available]
    status = worst([own, *(f for _, f in missing)])
    if not missing:
        return own
    parts = [own.reason]
    for what, finding in missing:
        parts.append(f"It also needs {what}, which is {finding.status.value}: {finding.reason}")
    fixes = [own] if own.status != CapabilityStatus.available else []
    return Finding(status, " ".join(parts), _fixes([*fixes, *(f for _, f in missing)]))


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
        combined = _combine(own[name], needs)
        items.append(CapabilityItem(name=name, status=combined.status, reason=combined.reason, fix=combined.fix))
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
            reason = f"Everything it needs is available: {', '.join(what for what, _ in needs)}."
            items.append(CapabilityItem(name=name, status=status, reason=reason, fix=None))
            continue
        missing = [(what, f) for what, f in needs if f.status != CapabilityStatus.available]
        reason = " ".join(f"It needs {what}, which is {f.status.value}: {f.reason}" for what, f in missing)
        items.append(CapabilityItem(name=name, status=status, reason=reason, fix=_fixes(f for _, f in missing)))
    return items


def access_items(findings: Findings) -> list[CapabilityItem]:
    items = []
    for name in ACCESS_NAMES:
        finding = findings.access.get(name) or Finding.unknown("This was not examined for this connection.")
        items.append(CapabilityItem(name=name, status=finding.status, reason=finding.reason, fix=finding.fix))
    return items


def _not_supported_capability(connector: Connector, name: str) -> CapabilityItem:
    reason = (
        f"{connector.label} writers do not use {name}: none of its functionalities needs it "
        "(see GET …/functionalities/)."
    )
    return CapabilityItem(name=name, status=CapabilityStatus.not_supported, reason=reason, fix=None)
