"""The UI's pure parts: PEM repair, masking, metadata joins, verdict wording, bounds (no Streamlit run)."""

from __future__ import annotations

from typing import Any

from backend.embed import _safe_next
from components.capabilities import NONE_CELL, OVERALL, matrix
from components.form import masked, normalize_pem, placeholder_for
from components.metadata import Forms, connector_section, endpoints, path_label
from components.tls import strictest_mode
from components.verdict import fact, unverified_tls
from tests.ui.conftest import LiveAPI


def test_a_pem_pasted_into_a_single_line_input_gets_its_line_breaks_back() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\nZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    assert normalize_pem(pem.replace("\n", " ")) == pem
    assert normalize_pem(pem) == pem, "a well-formed PEM is left alone"
    encrypted = "-----BEGIN RSA PRIVATE KEY----- Proc-Type: 4,ENCRYPTED abc -----END RSA PRIVATE KEY-----"
    assert normalize_pem(encrypted) == encrypted, "headers cannot be rebuilt: left for the API to judge"
    assert normalize_pem("hunter2") == "hunter2"


def test_masked_replaces_every_secret_and_only_secrets() -> None:
    body = {"password": "pw", "host": "h", "hooks_params": {"SSHTunnel": {"pkey": "KEY", "host": "jump"}}}
    out = masked(body, ["password", "hooks_params.SSHTunnel.pkey"])
    assert out == {"password": "<PASSWORD>", "host": "h",
                   "hooks_params": {"SSHTunnel": {"pkey": "<SSHTUNNEL_PKEY>", "host": "jump"}}}
    assert body["password"] == "pw", "the body itself is untouched"
    assert placeholder_for("hooks_params.SSL.key") == "<SSL_KEY>"


def test_a_field_path_reads_as_the_forms_label(supported: dict[str, Any], forms: Forms) -> None:
    for connector_type in supported["write_connectors"]:
        for spec in connector_section(forms, connector_type).fields:
            assert path_label(forms, connector_type, spec.path) == spec.label
            assert path_label(forms, connector_type, f"connection.{spec.path}") == spec.label
    ssh = forms.hooks["SSHTunnel"]
    label = path_label(forms, "PostgreSQLConnector", "hooks_params.SSHTunnel.pkey")
    assert label.startswith(ssh.label + " › ") and "pkey" not in label


def test_technical_facts_read_as_words_not_payload_keys() -> None:
    assert fact("hostname_verified", False) == "host name checked: no"
    assert fact("verified", True) == "certificate checked: yes"
    assert fact("version", "TLSv1.3") == "version: TLSv1.3"


def test_an_unverified_certificate_is_spotted_and_the_strictest_mode_offered() -> None:
    assert unverified_tls({"payload": {"tls": {"enabled": True, "verified": False}}})
    assert not unverified_tls({"payload": {"tls": {"enabled": True, "verified": True}}})
    assert not unverified_tls({"payload": {"tls": {"enabled": False}}})
    assert strictest_mode(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]) == "verify-full"
    assert strictest_mode(["DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"]) == "VERIFY_IDENTITY"
    assert strictest_mode(["disable", "require"]) is None


def test_the_matrix_keeps_the_functionalitys_level_apart_from_its_capabilities() -> None:
    by_connector: dict[str, list[dict[str, Any]]] = {
        "S3": [{"name": "HIGH_PERFORMANCE_WRITING", "applicability": "PARTIAL", "capabilities": []}],
        "PG": [{"name": "HIGH_PERFORMANCE_WRITING", "applicability": "PARTIAL",
                "capabilities": [{"name": "INDEX_MANAGEMENT", "depends_on": []}]}],
        "X": [],
    }
    frame = matrix(by_connector, "HIGH_PERFORMANCE_WRITING", str)
    assert frame.loc["S3", OVERALL] == "Partial", "a functionality without capabilities is not —"
    assert frame.loc["PG", "INDEX_MANAGEMENT"] == "✓" and frame.loc["S3", "INDEX_MANAGEMENT"] == NONE_CELL
    assert frame.loc["X", OVERALL] == NONE_CELL


def test_the_login_hand_off_goes_back_only_to_a_page_of_this_site() -> None:
    assert _safe_next("/capabilities?connection=abc") == "/capabilities?connection=abc"
    for hostile in ("//evil.example", "https://evil.example/", "/\\evil.example", "capabilities"):
        assert _safe_next(hostile) == "/"


def test_every_operation_of_the_openapi_document_is_listed(live_api: LiveAPI) -> None:
    import httpx

    schema = httpx.get(f"{live_api.url}/api/schema/", timeout=10).json()
    listed = {(method, path) for method, path, _, _ in endpoints(schema)}
    expected = {(m.upper(), p) for p, item in schema["paths"].items() for m in item
                if m in ("get", "post", "patch", "put", "delete")}
    assert listed == expected
    assert ("POST", "/api/v1/database_connections/test/stream/") in listed


def test_port_bounds_come_from_the_forms_document(supported: dict[str, Any], forms: Forms) -> None:
    for connector_type, props in supported["write_connectors"].items():
        for spec in connector_section(forms, connector_type).fields:
            if spec.name == "port":
                assert (spec.minimum, spec.maximum) == (1, 65535), connector_type
        assert ("port" in props) == any(s.name == "port" for s in connector_section(forms, connector_type).fields)
