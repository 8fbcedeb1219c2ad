"""Check, without network, that the lock files hold what ``make lock`` promises.

- every requirement line of ``requirements.txt`` and ``requirements-dev.txt`` is pinned ``==`` and
  carries at least one ``--hash``;
- every dependency that ``pyproject.toml`` declares (``dev`` extras for the dev lock) is locked, at a
  version within its declared range;
- the running lock holds the same versions as the dev lock (a test never runs other versions than
  production does).

Exit status 0 when all holds, 1 with one line per problem otherwise. Run by ``.ci/run`` and by
``tests/test_install.py``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYTHON = {"python_version": "3.11", "python_full_version": "3.11.0", "extra": ""}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashed: bool


def read_lock(path: Path) -> tuple[dict[str, Pin], list[str]]:
    """The pins of a ``uv pip compile --generate-hashes`` file, and the problems of its lines."""
    pins: dict[str, Pin] = {}
    problems: list[str] = []
    # A requirement spans its continuation lines (``\\`` at the end); comments stand alone.
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            problems.append(f"{path.name}: an option line is not allowed in a lock: {line[:60]}")
            continue
        spec, _, rest = line.partition(" ")
        match = re.fullmatch(r"([A-Za-z0-9._\-]+)(\[[^\]]*\])?==([^\s;]+)(;.*)?", spec)
        if not match:
            problems.append(f"{path.name}: not pinned with ==: {spec}")
            continue
        name = canonicalize_name(match.group(1))
        hashed = "--hash=sha256:" in rest
        if not hashed:
            problems.append(f"{path.name}: {name}=={match.group(3)} has no --hash")
        pins[name] = Pin(name, match.group(3), hashed)
    return pins, problems


def declared(extra: str | None, root: Path = ROOT) -> list[Requirement]:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    if extra:
        wanted += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return [r for r in wanted if r.marker is None or r.marker.evaluate(PYTHON)]


def check(root: Path = ROOT) -> list[str]:
    problems: list[str] = []
    locks: dict[str, dict[str, Pin]] = {}
    for filename, extra in (("requirements.txt", None), ("requirements-dev.txt", "dev")):
        pins, found = read_lock(root / filename)
        problems += found
        locks[filename] = pins
        for requirement in declared(extra, root):
            pin = pins.get(canonicalize_name(requirement.name))
            if pin is None:
                problems.append(f"{filename}: {requirement.name} is declared in pyproject.toml but not locked")
            elif not requirement.specifier.contains(Version(pin.version), prereleases=True):
                problems.append(
                    f"{filename}: {requirement.name}=={pin.version} is outside the declared range "
                    f"{requirement.specifier} (run `make lock`)"
                )
    dev = locks["requirements-dev.txt"]
    for name, pin in locks["requirements.txt"].items():
        if name in dev and dev[name].version != pin.version:
            problems.append(f"requirements.txt: {name}=={pin.version} but requirements-dev.txt has {dev[name].version}")
        elif name not in dev:
            problems.append(f"requirements.txt: {name} is not in requirements-dev.txt")
    return problems


def main() -> int:
    problems = check()
    for problem in problems:
        print(problem)
    if not problems:
        print("lock: every line pinned with hashes and within pyproject.toml's ranges")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
