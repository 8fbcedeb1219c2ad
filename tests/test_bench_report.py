"""The bench says what it measured and which section failed, and names the layer of a refusal."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

import bench.__main__ as bench_main
from backend.main import create_app
from bench.measure import refusal
from bench.report import Section
from tests.helpers import auth_settings


def test_a_refusal_names_its_code_and_title(tmp_path: Path, closed_port: int) -> None:
    """The 503 of section 4's story: the session check's store call fails (here: a store that is down)."""
    url = f"postgresql+psycopg2://wizard:x@127.0.0.1:{closed_port}/nodb"
    key = Fernet.generate_key().decode()  # a shared store needs the key (docs/design.md, "The store under faults")
    with TestClient(create_app(auth_settings(tmp_path, database_url=url, secret_key=key))) as client:
        client.cookies.set("sessionid", "x" * 43)
        answer = client.get("/api/v1/database_connections/supported_types/")
    assert answer.status_code == 503
    said = refusal(answer)
    assert said.startswith("503 STORE_UNAVAILABLE: The user store is unavailable"), said


def test_a_failed_run_prints_the_sections_it_measured(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def run(args: Any, sections: list[Section]) -> list[Section]:
        done = Section("1. Overhead")
        done.row("a figure", "1.0 ms")
        sections.append(done)
        sections.append(bench_main.failed_section("4. metadata endpoints", RuntimeError("GET /x answered 503"), []))
        raise OSError("the disk is full")

    monkeypatch.setattr(bench_main, "run", run)
    before = signal.getsignal(signal.SIGTERM)
    try:
        assert bench_main.main([]) == 1
    finally:
        signal.signal(signal.SIGTERM, before)  # main() installs the bench's own handler
    out = capsys.readouterr()
    assert "### 1. Overhead" in out.out and "| a figure | 1.0 ms |" in out.out
    assert "4. metadata endpoints — **FAILED**" in out.out and "GET /x answered 503" in out.out
    assert "the disk is full" in out.out + out.err
    assert out.out.index("### 1.") < out.out.index("### 4.") < out.out.index("### the bench itself")
