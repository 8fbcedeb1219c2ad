"""The README stays true: every setting and every verdict code is documented there."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.diagnosis.messages import Code
from backend.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`WIZARD_{name.upper()}`" in README


@pytest.mark.parametrize("code", [c.value for c in Code])
def test_every_code_is_documented(code: str) -> None:
    assert f"`{code}`" in README


def test_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
    makefile = (Path(__file__).parent.parent / "Makefile").read_text()
    assert "\nrun: setup\n" in makefile and "\ntest: setup\n" in makefile
