"""The table: one section per measure, every figure a median with min and max beside it."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field

MET, MISSED = "met", "**MISSED**"


@dataclass
class Row:
    figure: str
    median: str
    low: str = ""
    high: str = ""
    n: str = ""
    target: str = ""
    result: str = ""


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    """A table of its own (lines of markdown), printed after the rows."""

    def row(self, figure: str, median: str, low: str = "", high: str = "", n: int | str = "", target: str = "",
            result: str = "") -> Row:
        row = Row(figure, median, low, high, str(n), target, result)
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        if self.rows:
            lines += ["| figure | median | min | max | n | target | result |", "|---|---:|---:|---:|---:|---|---|"]
            for r in self.rows:
                lines.append(f"| {r.figure} | {r.median} | {r.low} | {r.high} | {r.n} | {r.target} | {r.result} |")
            lines.append("")
        if self.raw:
            lines += [*self.raw, ""]
        lines += [f"- {note}" for note in self.notes]
        if self.notes:
            lines.append("")
        return "\n".join(lines)


def judge(ok: bool) -> str:
    return MET if ok else MISSED


def machine() -> str:
    import psutil

    cores = os.cpu_count() or 0
    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cores} cores ({platform.processor() or platform.machine()}), {memory:.1f} GiB memory, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}; load average at the end: {load}")


def document(sections: list[Section], started: float, command: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(started))
    head = [
        f"Run: {stamp}, {time.time() - started:.0f} s, `{command}`",
        f"Machine: {machine()}",
        "",
    ]
    return "\n".join(head) + "\n".join(s.markdown() for s in sections)
