"""The Capabilities page with AppTest, against the live API's functionalities."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from components.capabilities import LISTED, NONE_CELL, OVERALL
from components.metadata import Forms
from components.words import readable
from tests.ui.conftest import LiveAPI, new_app

pytestmark = pytest.mark.usefixtures("ui_env")
PAGE = "pages/capabilities.py"


def functionalities(api: LiveAPI, connector_type: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{api.url}/api/v1/database_connections/functionalities/", params={"connector_type": connector_type}, timeout=10
    )
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["functionalities"]
    return found


def test_the_matrix_shows_every_connector_and_what_it_declares(
    supported: dict[str, Any], forms: Forms, live_api: LiveAPI
) -> None:
    at = new_app(PAGE)
    types = [t for t in forms.connectors if t in supported["write_connectors"]]
    declared = {t: functionalities(live_api, t) for t in types}
    names = list(dict.fromkeys(f["name"] for items in declared.values() for f in items))
    assert names, "the registry declares functionalities"
    assert [t.label for t in at.tabs] == [readable(n) for n in names]
    assert at.header[0].value == "With your connection", "whose answer: above the tabs, never behind their scroll"
    frames = [df.value for df in at.dataframe]
    assert len(frames) == len(names)
    for name, frame in zip(names, frames, strict=True):
        assert list(frame.index) == [forms.label(t) for t in types], "every connector is a row, by its label"
        for connector_type in types:
            row = frame.loc[forms.label(connector_type)]
            item = next((f for f in declared[connector_type] if f["name"] == name), None)
            assert row[OVERALL] == (item["applicability"].title() if item else NONE_CELL), (connector_type, name)
            listed = {c["name"] for c in item["capabilities"]} if item else set()
            for capability in frame.columns[1:]:
                assert row[capability] == (LISTED if capability in listed else NONE_CELL), (connector_type, capability)
        listed_anywhere = {c["name"] for items in declared.values() for f in items if f["name"] == name
                           for c in f["capabilities"]}
        assert set(frame.columns[1:]) == listed_anywhere
    assert any("swipe" in c.value for c in at.caption), "a narrow screen is told the table scrolls"
    assert any("Check what I can do" in i.value for i in at.info)


def test_one_connector_in_detail_with_its_dependency_graph(supported: dict[str, Any], live_api: LiveAPI) -> None:
    at = new_app(PAGE)
    for connector_type in supported["write_connectors"]:
        at.selectbox(key="cap_connector").set_value(connector_type).run()
        assert not at.exception
        declared = functionalities(live_api, connector_type)
        text = "\n".join(m.value for m in at.markdown)
        charts = at.get("graphviz_chart")
        with_caps = [f for f in declared if f["capabilities"]]
        assert len(charts) == len(with_caps), connector_type
        for item, chart in zip(with_caps, charts, strict=True):
            assert readable(item["name"]) in text
            spec = chart.proto.spec
            for cap in item["capabilities"]:
                for dep in cap["depends_on"] or []:
                    assert f'"{cap["name"]}" -> "{dep}"' in spec
        if not declared:
            assert any("declares no writing functionality" in i.value for i in at.info)
