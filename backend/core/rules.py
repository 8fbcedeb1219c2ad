"""One way to turn a driver's error into a verdict: declarative rules and one engine.

Every connector describes its errors as a tuple of :class:`ErrorRule` and hands a driver's
exception, read into :class:`ErrorFacts`, to :func:`classify`. The engine looks in a fixed order
of evidence, strongest first (``docs/design.md``, "Classifying errors"):

1. the type of an exception in the chain (``__cause__`` / ``__context__``), outermost first: the
   transport's own errors under a driver's wrapper (a refused socket is a closed port, whatever
   number the driver wraps it in),
2. the SQLSTATE the driver reported,
3. the driver's or server's error numbers (in the order the driver gave them),
4. and only as a last resort a regular expression on the message text (some drivers, libpq
   among them, report a failed login as text only).

Within one kind of evidence the first rule that matches wins, so a table reads top-down like
the documentation it cites. A rule may carry several kinds of evidence (a SQLSTATE *and* a
message pattern): it matches on the strongest the driver gave.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure

_STAGE_OF: dict[Code, str] = {
    Code.AUTHENTICATION_FAILED: "authentication",
    Code.KERBEROS_FAILED: "authentication",
    Code.PERMISSION_DENIED: "database",
    Code.DATABASE_NOT_FOUND: "database",
    Code.SCHEMA_NOT_FOUND: "query",
}


def stage_of(code: Code) -> str:
    """The stage of a login handshake a driver error belongs to (tls for transport errors)."""
    return _STAGE_OF.get(code, "tls")


def one_line(text: str) -> str:
    """A driver's (possibly multi-line) message on one line."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception behind it, each once, nearest first: ``__cause__``, ``__context__``
    and the links drivers keep of their own (azure-core's ``inner_exception``, urllib3's ``reason``,
    ``original_error``, exceptions among the ``args``, botocore's ``kwargs['error']``)."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        chain.append(current)
        todo += [current.__cause__, current.__context__]
        todo += [getattr(current, attr, None) for attr in ("inner_exception", "reason", "original_error")]
        todo += list(getattr(current, "args", ()))
        kwargs = getattr(current, "kwargs", None)
        if isinstance(kwargs, Mapping):
            todo.append(kwargs.get("error"))
    return chain


@dataclass(frozen=True)
class ErrorRule:
    """When a driver error looks like this, the verdict is ``code``, blaming ``fields``."""

    code: Code
    fields: Mapping[str, str] = field(default_factory=dict)
    """Request field → what to fix there (``details``)."""
    sqlstate: str | None = None
    number: int | str | None = None
    """A driver or server error number, e.g. ``1045`` or ``"ORA-01017"`` (as :class:`ErrorFacts` spells them)."""
    exception: type[BaseException] | tuple[type[BaseException], ...] | None = None
    pattern: str | None = None
    """A regular expression searched (case-insensitively) in the message: the last resort."""
    stage: str | None = None
    """Where the diagnosis stopped; by default :func:`stage_of` the code."""
    title: str | None = None
    body: str | None = None
    """What to do, in plain words (else the code's advice)."""
    text: str | None = None
    """Plain words replacing the driver's message (the driver's own words are kept otherwise)."""

    def __post_init__(self) -> None:
        if self.sqlstate is None and self.number is None and self.exception is None and self.pattern is None:
            raise ValueError(f"an ErrorRule for {self.code} needs something to match on")

    def failure(self, message: str, blame: Mapping[str, str] | None = None) -> Failure:
        fields = {(blame or {}).get(name, name): why for name, why in self.fields.items()}
        return Failure(
            self.code,
            self.text or message,
            fields=fields,
            title=self.title,
            body=self.body,
            stage=self.stage or stage_of(self.code),
        )


@dataclass(frozen=True)
class ErrorFacts:
    """What a driver's exception says, read once by the connector that knows the driver."""

    message: str
    sqlstate: str | None = None
    numbers: tuple[int | str, ...] = ()
    chain: tuple[BaseException, ...] = ()

    @classmethod
    def of(
        cls, exc: BaseException, *, message: str | None = None, sqlstate: str | None = None,
        numbers: Iterable[int | str] = (),
    ) -> ErrorFacts:
        return cls(
            message=one_line(str(exc) if message is None else message),
            sqlstate=sqlstate,
            numbers=tuple(numbers),
            chain=tuple(exception_chain(exc)),
        )


def match(facts: ErrorFacts, rules: Iterable[ErrorRule]) -> ErrorRule | None:
    """The rule that fits ``facts`` best (see the module's docstring for the order), or None."""
    table = tuple(rules)
    for err in facts.chain:
        for rule in table:
            if rule.exception is not None and isinstance(err, rule.exception):
                return rule
    if facts.sqlstate:
        for rule in table:
            if rule.sqlstate is not None and rule.sqlstate == facts.sqlstate:
                return rule
    for number in facts.numbers:
        for rule in table:
            if rule.number is not None and rule.number == number:
                return rule
    for rule in table:
        if rule.pattern is not None and re.search(rule.pattern, facts.message, re.IGNORECASE):
            return rule
    return None


def classify(
    facts: ErrorFacts,
    rules: Iterable[ErrorRule],
    *,
    blame: Mapping[str, str] | None = None,
    fallback_stage: str = "authentication",
) -> Failure:
    """The verdict of a driver error: the matching rule's, else ``UNEXPECTED_ERROR`` with the driver's words.

    ``blame`` renames fields (e.g. ``hooks_params.SSL.ca`` → ``hooks_params.SSL.ca_filename`` when
    the CA came as a server-side file: ``hooks.tls.blame_map``).
    """
    rule = match(facts, rules)
    if rule is not None:
        return rule.failure(facts.message, blame)
    return Failure(Code.UNEXPECTED_ERROR, facts.message or _name(facts), stage=fallback_stage)


def _name(facts: ErrorFacts) -> str:
    return type(facts.chain[0]).__name__ if facts.chain else "error"
