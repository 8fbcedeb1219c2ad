"""The Prometheus metrics of one app (``GET /api/metrics``).

Each app has a registry of its own, not prometheus-client's global one: several apps in one
process (the test suite, a bench) would otherwise share counters or refuse to register twice.
The process and platform collectors are added to it, so one scrape gives both.

Labels are bounded and carry nothing about a caller: the connector type (from the registry),
the verdict code (a fixed list) and the reason of a refusal. Never a host, a user or a secret.
Each process has its own counters: behind a load balancer, Prometheus scrapes every process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

CONTENT_TYPE = "text/plain"
"""What the metrics endpoint documents; the exact type (version, OpenMetrics) follows ``Accept``."""
Rejection = Literal["busy", "rate", "auth"]
REJECTIONS: tuple[Rejection, ...] = ("busy", "rate", "auth")

# From a refused port (milliseconds) to the longest deadline WIZARD_TEST_TIMEOUT_S allows (300 s).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)


class Metrics:
    """The wizard's counters, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.tests = Counter(
            "wizard_tests", "Connection tests run, by connector type and verdict code.",
            ["connector_type", "code"], registry=self.registry,
        )
        self.duration = Histogram(
            "wizard_test_duration_seconds", "How long a connection test took, by connector type.",
            ["connector_type"], buckets=DURATION_BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge("wizard_tests_in_flight", "Connection tests running now.", registry=self.registry)
        self.rejected = Counter(
            "wizard_requests_rejected", "Requests refused: busy (503), rate (429), auth (401/403).",
            ["reason"], registry=self.registry,
        )
        for reason in REJECTIONS:  # present at 0 from the start: a rate() needs the first sample
            self.rejected.labels(reason=reason)

    def count_in_flight(self, read: Callable[[], float]) -> None:
        """Read the number of tests in flight from its owner at each scrape (no second count to keep)."""
        self.in_flight.set_function(read)

    def test_done(self, connector_type: str, code: str, seconds: float) -> None:
        self.tests.labels(connector_type, code).inc()  # positional: the library's quicker path
        self.duration.labels(connector_type).observe(seconds)

    def reject(self, reason: Rejection) -> None:
        self.rejected.labels(reason=reason).inc()

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """Everything, in the format the scraper's ``Accept`` asks for (as prometheus-client's own
        exporters choose it: the Prometheus text format 0.0.4 by default, OpenMetrics on request);
        returns the body and its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
