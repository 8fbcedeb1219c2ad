"""Installs that hold: the lock is complete, pinned with hashes and within pyproject.toml's ranges.

(``pip install .`` giving a working ``connection-wizard`` is tested in ``test_cli.py``; the README's
commands in ``test_readme_commands.py``.)
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import ROOT


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_lock_holds_what_pyproject_declares() -> None:
    checker = load_checker()
    assert checker.check() == []


def test_pyproject_declares_ranges_and_the_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["connection-wizard"] == "backend.cli:main"
    assert "dynamic" not in project or "dependencies" not in project["dynamic"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" not in requirement, f"{requirement}: pyproject.toml declares ranges; the lock pins"


def test_the_checker_finds_an_unhashed_line(copy: Path) -> None:
    checker = load_checker()
    lock = copy / "requirements.txt"
    text = lock.read_text()
    start = text.index("\nfastapi==")
    lock.write_text(text[:start] + "\nfastapi==0.115.0\n" + text[text.index("    # via", start) :])
    problems = checker.check(copy)
    assert any("fastapi==0.115.0 has no --hash" in p for p in problems), problems


def test_the_checker_finds_a_pin_outside_its_range(copy: Path) -> None:
    checker = load_checker()
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"fastapi>=0.115,<1"', '"fastapi>=0.115,<0.116"'))
    problems = checker.check(copy)
    assert any("fastapi==" in p and "outside the declared range" in p for p in problems), problems


def test_the_checker_finds_a_running_pin_that_differs_from_the_dev_lock(copy: Path) -> None:
    checker = load_checker()
    lock = copy / "requirements.txt"
    lock.write_text(lock.read_text().replace("\nhttpx==", "\nhttpx==0.27.0 --hash=sha256:00\n# was httpx==", 1))
    problems = checker.check(copy)
    assert any("httpx==0.27.0 but requirements-dev.txt has" in p for p in problems), problems
