"""The API itself on a real uvicorn server on a loopback port, in a thread of its own.

For tests that need what the in-process TestClient cannot give: a real socket (streamed bodies
arrive line by line, concurrent clients, the Streamlit UI calling over HTTP).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from tests.servers.common import LOOPBACK, free_port


@dataclass
class LiveAPI:
    url: str
    app: Any
    """The app as the test built it (e.g. the FastAPI app, to look at ``app.state``)."""
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_api(app: ASGIApp, log_level: str = "warning", *, served: ASGIApp | None = None) -> LiveAPI:
    """Serve ``app`` (or ``served``, a layer in front of it) on a free loopback port.

    Returns once uvicorn accepts connections. uvicorn's access log is on from ``log_level`` info.
    """
    port = free_port()
    config = uvicorn.Config(served or app, host=LOOPBACK, port=port, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"api-{port}", daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > end:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    return LiveAPI(f"http://{LOOPBACK}:{port}", app, server, thread)


@contextlib.contextmanager
def serve(app: ASGIApp, log_level: str = "warning") -> Iterator[str]:
    """``app`` on uvicorn for the duration of the block; yields its base URL."""
    live = start_api(app, log_level)
    try:
        yield live.url
    finally:
        live.stop()
