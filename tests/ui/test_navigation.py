"""The navigation buttons (AppTest): every page reaches every other, also from a page that stops early."""

from __future__ import annotations

import pytest

from tests.ui.conftest import new_app

pytestmark = pytest.mark.usefixtures("ui_env")
TITLES = {"": "Test a connection", "connections": "Saved connections", "capabilities": "What each connector can do",
          "use-the-api": "Use the API"}


def test_each_navigation_button_opens_its_page_from_every_page() -> None:
    at = new_app()
    for start in TITLES:
        for target, title in TITLES.items():
            at.button(key=f"nav-{start or 'home'}").click().run()
            assert at.title[0].value == TITLES[start], (start, [t.value for t in at.title])
            at.button(key=f"nav-{target or 'home'}").click().run()
            assert not at.exception, [e.value for e in at.exception]
            assert at.title[0].value == title, (start, target, [t.value for t in at.title])
