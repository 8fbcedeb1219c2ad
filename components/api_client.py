"""The UI's only way to the backend: its public HTTP API, through httpx.

Every page goes through :class:`ApiClient`, exactly like any other consumer of the API.
A call either returns data or raises :class:`ApiProblem`, whose ``kind`` tells the page which
plain-words message to show (the API is down, too slow, busy, wants a login, …).

Credentials live on the client object, which lives in the user's ``st.session_state``: the
``sessionid`` cookie from ``POST /api/v1/auth/`` (kept by hand rather than in a cookie jar,
so a ``Secure`` cookie still works over plain HTTP on loopback), or a bearer token.
Nothing here logs, and no request carries a secret in its URL.
"""

from __future__ import annotations

import contextlib
import functools
import json as jsonlib
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal
from urllib.parse import quote

import httpx

SESSION_COOKIE = "sessionid"
CSRF_HEADER = "X-CSRF-Token"
"""Sent with every cookie-authenticated POST/DELETE: a client that sends no Origin proves the session so."""
BASE = "/api/v1/database_connections"
AUTH = "/api/v1/auth/"
NDJSON = "application/x-ndjson"

ProblemKind = Literal[
    "down",
    "timeout",
    "unauthenticated",
    "busy",
    "throttled",
    "too_large",
    "not_found",
    "invalid",
    "server_error",
    "bad_reply",
 "conflict",]


class ApiProblem(Exception):
    """The API could not give what was asked, in words a person can act on."""

    def __init__(
        self,
        kind: ProblemKind,
        title: str,
        body: str,
        *,
        status: int | None = None,
        details: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(title)
        self.kind, self.title, self.body = kind, title, body
        self.status, self.details, self.retry_after = status, details, retry_after


@dataclass(frozen=True)
class TestReply:
    """A test the API answered: ``200`` (a verdict) or ``422`` (settings refused, per field)."""

    status: int
    message: dict[str, Any]
    streamed: bool = False
    """The stages came live from ``test/stream/`` (False: one answer from ``test/``)."""


StageListener = Callable[[str, dict[str, Any]], None]
"""Called with ``("start", {"name"})`` when a stage begins and ``("stage", {"name", "status", "duration_ms",
"detail"})`` when it is settled, as the lines of ``test/stream/`` arrive."""


def _retry_after(response: httpx.Response) -> int | None:
    value = response.headers.get("retry-after", "")
    return int(value) if value.isdigit() else None


def _message(response: httpx.Response) -> dict[str, Any] | None:
    """The ApplicationMessage of a response, if its body is one."""
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("title"), str) and isinstance(data.get("code"), str):
        return data
    return None


@dataclass
class ApiClient:
    """An HTTP client of the Connection Wizard API, with one user's credentials."""

    base_url: str
    timeout_s: float = 10.0
    """Deadline of metadata and login calls (the API answers those at once)."""
    test_timeout_s: float = 15.0
    """Deadline of a connection test: the server's own test deadline plus a margin."""
    session_id: str | None = field(default=None, repr=False)
    csrf_token: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    user: str | None = None

    # --- plumbing -----------------------------------------------------------------------------

    def _headers(self, method: str) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.session_id:
            headers["Cookie"] = f"{SESSION_COOKIE}={self.session_id}"
            if self.csrf_token and method not in ("GET", "HEAD", "OPTIONS"):
                headers[CSRF_HEADER] = self.csrf_token
        return headers

    def _request(
        self,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        wait = timeout or self.timeout_s
        with self._calling(wait) as http:
            return http.request(method, path, json=json, params=params, headers={**self._headers(method), **(headers or {})})

    @contextlib.contextmanager
    def _calling(self, wait: float) -> Iterator[httpx.Client]:
        """An HTTP client for one call; a transport failure (also while a stream is read) is an ApiProblem."""
        try:
            with httpx.Client(base_url=self.base_url, timeout=wait, follow_redirects=False,
                              verify=trust_store()) as http:
                yield http
        except httpx.TimeoutException:
            raise _timeout(wait) from None
        except httpx.TransportError as exc:
            raise ApiProblem(
                "down",
                "The wizard's API is not answering",
                f"Could not reach the API at {self.base_url} ({type(exc).__name__}). If you started the wizard "
                "with `streamlit run app.py`, restart it; if the API runs on its own, check that it is up and "
                "that WIZARD_API_URL points at it.",
            ) from None

    def _problem(self, response: httpx.Response) -> ApiProblem:
        """Turn any non-success answer into an :class:`ApiProblem`."""
        status = response.status_code
        msg = _message(response) or {}
        title = str(msg.get("title") or f"The API answered HTTP {status}")
        body = str(msg.get("body") or "")
        details = msg.get("details") if isinstance(msg.get("details"), dict) else None
        retry = _retry_after(response)
        if status == 401:
            return ApiProblem("unauthenticated", "Please log in", body or "The API asks who you are.", status=status)
        if status == 503:
            wait = f" Try again in {retry} s." if retry else " Try again in a moment."
            return ApiProblem(
                "busy",
                "The wizard is busy",
                (body or "The wizard is running as many connection tests as it may.") + ("" if body else wait),
                status=status,
                retry_after=retry,
            )
        if status == 429:
            return ApiProblem(
                "throttled",
                title if msg else "Too many attempts",
                body or "Too many requests in a short time. Wait a little and try again.",
                status=status,
                retry_after=retry,
            )
        if status == 413:
            return ApiProblem("too_large", title, body or "The request is too large.", status=status)
        if status == 404:
            return ApiProblem("not_found", title, body or "The API has no such endpoint.", status=status)
        if status == 422:
            return ApiProblem("invalid", title, body, status=status, details=details)
        if status == 412:
            return ApiProblem("conflict", "Someone else changed this connection",
                              body or "It was changed since you opened it.", status=status)
        if status >= 500:
            return ApiProblem(
                "server_error",
                title,
                body or "The API hit an internal error. Try again; if it persists, see the server log.",
                status=status,
            )
        return ApiProblem("bad_reply", title, body or f"Unexpected answer (HTTP {status}).", status=status)

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code != 200:
            raise self._problem(response)
        try:
            return response.json()
        except ValueError:
            raise ApiProblem(
                "bad_reply",
                "The API sent an unreadable answer",
                f"{response.request.url.path} did not answer with JSON. Is WIZARD_API_URL the wizard's API?",
            ) from None

    # --- Database Connections -------------------------------------------------------------------

    def supported_types(self) -> dict[str, Any]:
        data = self._json(self._request("GET", f"{BASE}/supported_types/"))
        if not isinstance(data, dict) or not isinstance(data.get("write_connectors") or data.get("connectors"), dict):
            raise ApiProblem("bad_reply", "The connector list is unreadable", "supported_types has no connectors.")
        return data

    def functionalities(self, connector_type: str) -> list[dict[str, Any]]:
        data = self._json(
            self._request("GET", f"{BASE}/functionalities/", params={"connector_type": connector_type})
        )
        found = data.get("functionalities") if isinstance(data, dict) else None
        return list(found or [])

    def test(self, body: dict[str, Any]) -> TestReply:
        """Run one connection test: a verdict (200) or the refused fields (422); else :class:`ApiProblem`."""
        response = self._request("POST", f"{BASE}/test/", json=body, timeout=self.test_timeout_s)
        return self._test_reply(response)

    def _test_reply(self, response: httpx.Response) -> TestReply:
        """A test's answer: a verdict (200) or the refused fields (422) are replies; anything else a problem."""
        message = _message(response)
        if response.status_code in (200, 422) and message is not None:
            return TestReply(response.status_code, message)
        raise self._problem(response)

    def test_stream(
        self, body: dict[str, Any] | None, on_stage: StageListener, tick: Callable[[], None] | None = None,
        saved_id: str | None = None,
    ) -> TestReply:
        """Run one test through ``test/stream/``: ``on_stage`` hears each stage as it happens, then the verdict
        (200) or the refused fields (422) is returned; else :class:`ApiProblem`, as :meth:`test`.

        The stream is read in a thread of its own while this thread calls ``tick`` every
        :data:`TICK_S` (the page redraws the elapsed time there). Whatever ends the wait early — an
        exception out of ``tick`` (Streamlit stopping the script for a **Cancel** click or a new
        run), or the client's own deadline — shuts the connection down, and the API cancels the
        test on the server when its stream is closed.

        An API without the stream (an older one behind ``WIZARD_API_URL`` answers 404 or 405) is asked
        through ``test/`` instead: the same verdict, without the live stages.

        With ``saved_id`` (and no body), the saved connection's test is streamed (``{id}/test/stream/``).
        """
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        path = f"{BASE}/{quote(saved_id, safe='')}/test/stream/" if saved_id else f"{BASE}/test/stream/"
        reader = _StreamReader(self, body, events, path)
        thread = threading.Thread(target=reader.run, name="wizard-test-stream", daemon=True)
        started = time.monotonic()
        thread.start()
        try:
            while True:
                try:
                    kind, value = events.get(timeout=TICK_S)
                except queue.Empty:
                    if time.monotonic() - started > self.test_timeout_s:
                        raise _timeout(self.test_timeout_s) from None
                    if tick is not None:
                        tick()
                    continue
                if kind == "stage":
                    on_stage(value[0], value[1])
                elif kind == "reply":
                    if isinstance(value, TestReply):
                        return value
                    return self.test_saved(saved_id) if saved_id else self.test(body or {})
                else:
                    raise value
        finally:
            reader.abort()

    def forms(self) -> dict[str, Any]:
        """``forms/``: how each connector's and hook's form reads (labels, help, rows, alternatives, URIs)."""
        data = self._json(self._request("GET", f"{BASE}/forms/"))
        if not isinstance(data, dict) or not isinstance(data.get("connectors"), list):
            raise ApiProblem("bad_reply", "The form descriptions are unreadable", "forms/ has no connectors.")
        return data

    def saved_connection(self, connection_id: str) -> dict[str, Any]:
        """``GET {id}/``: a saved connection, its stored secrets as the mask (``version`` from its ETag if absent)."""
        response = self._request("GET", f"{BASE}/{quote(connection_id, safe='')}/")
        return _versioned(response, self._json(response))

    def update_saved(self, connection_id: str, changes: dict[str, Any], version: int | str | None = None) -> dict[str, Any]:
        """``PATCH {id}/`` with ``If-Match`` (the version it was opened at; a ``conflict`` problem if it changed since).

        A masked secret sent back unchanged keeps the stored one.
        """
        headers = {"If-Match": f'"{version}"'} if version is not None else None
        response = self._request("PATCH", f"{BASE}/{quote(connection_id, safe='')}/", json=changes, headers=headers)
        return _versioned(response, self._json(response))

    def parse_uri(self, uri: str) -> dict[str, Any]:
        """``POST parse_uri/``: a pasted URI as ``{"connection": {...}, "notes": [...]}``; unreadable: an ``invalid`` problem."""
        data = self._json(self._request("POST", f"{BASE}/parse_uri/", json={"uri": uri}))
        if not isinstance(data, dict) or not isinstance(data.get("connection"), dict):
            raise ApiProblem("bad_reply", "The connection string's reading is unreadable", "parse_uri/ sent no connection.")
        return data

    def test_saved(self, connection_id: str) -> TestReply:
        """``POST {id}/test/``: test a saved connection with its stored secrets (they never come back to the UI)."""
        response = self._request("POST", f"{BASE}/{quote(connection_id, safe='')}/test/", timeout=self.test_timeout_s)
        return self._test_reply(response)

    # --- connection health over time (components/health.py) ----------------------------------

    def health(self) -> list[dict[str, Any]]:
        """``GET health/``: every saved connection's state, since when, timings and expiries."""
        data = self._json(self._request("GET", f"{BASE}/health/"))
        results = data.get("results") if isinstance(data, dict) else None
        return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []

    def history(self, connection_id: str, page_size: int = 20) -> list[dict[str, Any]]:
        """``GET {id}/history/``: a saved connection's newest kept tests."""
        data = self._json(self._request("GET", f"{BASE}/{quote(connection_id, safe='')}/history/",
                                        params={"page_size": str(page_size)}))
        results = data.get("results") if isinstance(data, dict) else None
        return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []

    # --- saved connections: list, save, delete (components/saved.py, pages/connections.py) -------

    def list_saved(self, search: str | None = None, page: int = 1, page_size: int = 50) -> dict[str, Any]:
        """``GET /api/v1/database_connections/``: one page of the user's saved connections, newest first."""
        params = {"page": str(page), "page_size": str(page_size)}
        if search:
            params["search"] = search
        data = self._json(self._request("GET", f"{BASE}/", params=params))
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ApiProblem("bad_reply", "The saved connections are unreadable", "The list has no results.")
        return data

    def create_saved(self, name: str, description: str | None, connection: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/v1/database_connections/`` (201): save a connection; a refused field is an ``invalid`` problem."""
        response = self._request(
            "POST", f"{BASE}/", json={"name": name, "description": description, "connection": connection}
        )
        if response.status_code != 201:
            raise self._problem(response)
        data = response.json()
        return data if isinstance(data, dict) else {}

    def delete_saved(self, connection_id: str) -> None:
        """``DELETE {id}/`` (204)."""
        response = self._request("DELETE", f"{BASE}/{quote(connection_id, safe='')}/")
        if response.status_code != 204:
            raise self._problem(response)

    # --- (end of saved connections) ---------------------------------------------------------------

    def capabilities(self, connection: dict[str, Any], schema: str | None = None) -> dict[str, Any]:
        """``POST capabilities/``: what this connection can do (docs/design.md, "Live capabilities")."""
        response = self._request(
            "POST", f"{BASE}/capabilities/", json={"connection": connection, "schema": schema, "write_probe": False},
            timeout=self.test_timeout_s,
        )
        data = self._json(response)
        return data if isinstance(data, dict) else {}

    def openapi(self) -> dict[str, Any]:
        data = self._json(self._request("GET", "/api/schema/"))
        return data if isinstance(data, dict) else {}

    # --- authentication -------------------------------------------------------------------------

    def login(self, username: str, password: str, headers: dict[str, str] | None = None) -> str:
        """``POST /api/v1/auth/``; keeps the ``sessionid`` cookie. Returns the user name. ``headers``: the
        embedding UI's proof of the browser's address (the login throttle counts the browser, not the UI)."""
        self.session_id = self.csrf_token = self.token = None
        response = self._request("POST", AUTH, json={"username": username, "password": password}, headers=headers)
        if response.status_code not in (200, 201):
            problem = self._problem(response)
            if problem.kind == "unauthenticated":
                msg = _message(response) or {}
                problem.title = "Wrong user name or password"
                problem.body = str(msg.get("body") or "The API refused this user name and password.")
            raise problem
        session = _cookie(response, SESSION_COOKIE)
        if not session:
            raise ApiProblem(
                "bad_reply", "No session was opened", "The API accepted the login but set no sessionid cookie."
            )
        status = self._json(response)
        self.session_id = session
        self.csrf_token = response.headers.get(CSRF_HEADER) or _str(status, "csrf_token")
        self.user = _str(status, "username") or username
        return self.user

    def use_token(self, token: str) -> str | None:
        """Authenticate with a bearer token from now on; returns who the API says we are (None: refused)."""
        self.token, self.session_id, self.csrf_token = token.strip() or None, None, None
        self.user = self.whoami()
        if self.user is None:
            self.token = None
        return self.user

    def whoami(self) -> str | None:
        """``GET /api/v1/auth/``: the logged-in user's name, or None when not logged in."""
        response = self._request("GET", AUTH)
        if response.status_code == 401:
            return None
        data = self._json(response)
        if self.session_id and _str(data, "csrf_token"):
            self.csrf_token = _str(data, "csrf_token")
        return _str(data, "username")

    def logout(self) -> None:
        """``DELETE /api/v1/auth/``; forgets the credentials whatever the API answers."""
        try:
            if self.session_id:
                self._request("DELETE", AUTH)
        except ApiProblem:
            pass  # the credentials are dropped below all the same
        finally:
            self.session_id = self.csrf_token = self.token = self.user = None

    @property
    def authenticated(self) -> bool:
        return bool(self.session_id or self.token)


def _timeout(wait: float) -> ApiProblem:
    return ApiProblem(
        "timeout",
        "No answer in time",
        f"The wizard's API did not answer within {wait:g} s. The server you are testing may be very "
        "slow to answer, or the API is overloaded. Try again in a moment.",
    )


@functools.cache
def trust_store() -> ssl.SSLContext:
    """The certificates an https API is checked against: httpx's own default (certifi, or ``SSL_CERT_FILE``), made once
    per process. An ``httpx.Client`` left to make its own reads the whole CA bundle again, ~30-150 ms per call: more
    than a connection test to a nearby database takes (``bench/felt_speed.py``)."""
    return httpx.create_ssl_context()


TICK_S = 0.25
"""How often a waiting test lets the page redraw its elapsed time (and notice a Cancel)."""


class _StreamReader:
    """Reads one ``test/stream/`` answer in its own thread, posting ``(kind, value)`` events to a queue.

    ``("stage", (event, stage))`` per stage line, ``("reply", TestReply | None)`` at the end (None: the
    API has no stream, ask ``test/``), ``("error", ApiProblem)`` on any failure.
    :meth:`abort` shuts the socket down, which wakes a read blocked on a silent server and
    tells the API the client is gone.
    """

    def __init__(self, api: ApiClient, body: dict[str, Any] | None, events: queue.Queue[tuple[str, Any]], path: str) -> None:
        self.api, self.body, self.events, self.path = api, body, events, path
        self.aborted = threading.Event()
        self.sock: socket.socket | None = None

    def run(self) -> None:
        try:
            self.events.put(("reply", self._read()))
        except ApiProblem as problem:
            self.events.put(("error", problem))
        except Exception:  # noqa: BLE001 - a socket shut down under a read, or anything unforeseen
            if not self.aborted.is_set():
                self.events.put(("error", ApiProblem("bad_reply", "The test stopped before its verdict",
                                                     "The connection to the API broke during the test. Try again.")))

    def _read(self) -> TestReply | None:
        api = self.api
        headers = {**api._headers("POST"), "Accept": f"{NDJSON}, application/json", "Accept-Encoding": "identity"}
        with (
            api._calling(api.test_timeout_s) as http,
            http.stream("POST", self.path, json=self.body, headers=headers) as response,
        ):
            stream = response.extensions.get("network_stream")
            self.sock = stream.get_extra_info("socket") if stream is not None else None
            if self.aborted.is_set():
                return None
            if response.status_code in (404, 405):
                return None
            if response.status_code != 200 or not response.headers.get("content-type", "").startswith(NDJSON):
                response.read()
                return api._test_reply(response)
            for line in response.iter_lines():
                event = _event(line)
                kind, stage = event.get("event"), event.get("stage")
                if kind == "verdict" and isinstance(event.get("message"), dict):
                    return TestReply(200, event["message"], streamed=True)
                if kind in ("start", "stage") and isinstance(stage, dict):
                    self.events.put(("stage", (str(kind), stage)))
            raise ApiProblem(
                "bad_reply",
                "The test stopped before its verdict",
                "The API ended the test's stream without a verdict (it may have restarted). Try again.",
            )

    def abort(self) -> None:
        """Stop reading: shut the connection down (the API then cancels the test)."""
        self.aborted.set()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


def _versioned(response: httpx.Response, data: Any) -> dict[str, Any]:
    """A saved connection with its ``version`` (the body's, else the ``ETag`` header's)."""
    found: dict[str, Any] = data if isinstance(data, dict) else {}
    if found.get("version") is None:
        tag = response.headers.get("etag", "").removeprefix("W/").strip('"')
        if tag.isdigit():
            found["version"] = int(tag)
    return found


def _event(line: str) -> dict[str, Any]:
    """One line of ``test/stream/`` (blank lines are nothing)."""
    if not line.strip():
        return {}
    try:
        event = jsonlib.loads(line)
    except ValueError:
        raise ApiProblem(
            "bad_reply",
            "The API sent an unreadable answer",
            "A line of the test's stream is not JSON. Is WIZARD_API_URL the wizard's API?",
        ) from None
    return event if isinstance(event, dict) else {}


def _str(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def _cookie(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        if name in jar and jar[name].value:
            return jar[name].value
    return None
