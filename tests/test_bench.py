"""The benchmark's parts: bodies for every connector, and the raw side of the overhead comparison."""

from __future__ import annotations

import socket

import pytest

from backend.connectors import registry
from backend.spec.metadata import supported_types
from backend.spec.models import parse_connector
from bench import measure
from bench.bodies import UNRESOLVABLE, Target, build_body, endpoint_kind
from tests.conftest import DB


@pytest.mark.parametrize("connector_type", list(registry()))
@pytest.mark.parametrize("target", [Target(port=5432), Target(host=UNRESOLVABLE, port=1)], ids=["loopback", "invalid"])
def test_body_is_valid(connector_type: str, target: Target) -> None:
    properties = supported_types().model_dump()["write_connectors"][connector_type]
    body = build_body(connector_type, properties, target)
    model = parse_connector(body)
    assert type(model) is registry()[connector_type].model
    # The bench can aim every connector at its loopback endpoints (else its fail-fast rows would be empty).
    assert endpoint_kind(properties, connector_type) != "none"
    if "host" in properties:
        assert body["host"] == target.host


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
def test_the_raw_side_does_the_wizards_work_on_the_real_servers(kind: str, request: pytest.FixtureRequest) -> None:
    """Both raw sides of the overhead row run against the suite's real servers; the same-work side
    opens one more TCP connection (the wizard's probe) than the bare driver does."""
    db: DB = request.getfixturevalue(kind)
    bench_db = measure.DB(kind, db.port, db.user, db.password, db.database)
    raw = measure.raw_postgres(bench_db) if kind == "postgres" else measure.raw_mysqlclient(bench_db)
    probes: list[int] = []
    real = socket.create_connection

    def counting(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        probes.append(address[1])
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "create_connection", counting)
        raw.bare()
        assert probes == []
        raw.same_work()
        assert probes == [db.port]
