"""A staged diagnosis: each step is timed, recorded and bounded by one deadline.

A step either returns, or raises :class:`Failure` with a verdict code. The diagnosis
records every stage (``passed``, ``failed``, ``skipped`` or ``warning``) and turns the
outcome into one ApplicationMessage. An optional listener hears each stage as the test goes
(the streaming endpoint's live timeline).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from backend.diagnosis.messages import ACCEPTED_THEN_SILENT, CATALOG, Advice, Code
from backend.spec.schemas import ApplicationMessage, Display, Durability, SystemMessageKind

T = TypeVar("T")
log = logging.getLogger("wizard.test")


class Failure(Exception):
    """A step's verdict: what went wrong (``code``), which fields to fix, and what to do."""

    def __init__(
        self,
        code: Code,
        detail: str = "",
        *,
        fields: Mapping[str, str | list[str]] | None = None,
        title: str | None = None,
        body: str | None = None,
        stage: str | None = None,
        kind: SystemMessageKind = SystemMessageKind.error,
    ) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail
        self.fields: dict[str, list[str]] = {
            k: [v] if isinstance(v, str) else list(v) for k, v in (fields or {}).items()
        }
        self.title = title
        self.body = body
        self.stage = stage
        self.kind = kind


class Deadline:
    """One budget of seconds shared by every step of a test."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.at = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)  # rounded, not truncated: no half-ms bias

    def timeout_failure(self, what: str, stage: str | None = None) -> Failure:
        return Failure(
            Code.CONNECTION_TIMEOUT,
            f"{what} did not answer within the {self.seconds:g} s deadline.",
            stage=stage,
        )


IDLE = "wizard-idle"
"""The name of a driver thread waiting for its next call (busy, it is named after its call: ``wizard-<what>``)."""


class DriverThreads:
    """The threads that run blocking driver calls: reused, and never one busy with another call.

    A call goes to a waiting thread if there is one, else to a new thread, at once: a call stuck
    past its deadline keeps its thread (it is abandoned, never waited for) and no other call
    queues behind it. A thread whose call returned waits for the next one, unless ``keep``
    threads already wait: then it ends, so the count comes back down after a burst of tests or
    once stuck calls give up. Reusing threads saves starting one per call, which blocks the event
    loop until the new thread runs (``Thread.start`` waits for it) and costs most on a busy machine.
    """

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._calls: queue.SimpleQueue[tuple[Callable[[], object], str]] = queue.SimpleQueue()
        self._waiting = 0
        """Threads that will take a call from the queue: each call put there was promised one of them."""
        self.threads = 0
        """Threads of the pool alive now, busy or waiting."""

    def run(self, call: Callable[[], object], name: str) -> None:
        """Start ``call`` now in a thread of its own named ``name`` (it never waits for another call); what it
        returns is dropped, what it raises is logged."""
        with self._lock:
            if self._waiting:
                self._waiting -= 1
                self._calls.put((call, name))
                return
            self.threads += 1
        try:
            threading.Thread(target=self._work, args=(call, name), name=name, daemon=True).start()
        except BaseException:  # e.g. no thread could be started: the caller hears it, the count stays true
            with self._lock:
                self.threads -= 1
            raise

    def _work(self, call: Callable[[], object], name: str) -> None:
        thread = threading.current_thread()
        while True:
            thread.name = name
            try:
                clear_openssl_errors()
                call()
            except BaseException as exc:  # noqa: BLE001 - the calls handle their own errors; the thread must go on
                log.error("a driver thread's call raised %s", type(exc).__name__)
            thread.name = IDLE
            with self._lock:
                if self._waiting >= self.keep:
                    self.threads -= 1
                    return
                self._waiting += 1
            call, name = self._calls.get()

    def _forget(self) -> None:
        """In a forked child: the parent's threads do not exist there."""
        self._lock = threading.Lock()
        self._calls = queue.SimpleQueue()
        self._waiting = self.threads = 0


def _openssl_error_clearer() -> Callable[[], None]:
    """OpenSSL's ``ERR_clear_error`` of the libcrypto this process loaded, or a no-op."""
    try:
        import ctypes
        import ssl  # loads libcrypto: the name below finds that copy, not another

        library = ctypes.CDLL("libcrypto.so.3" if ssl.OPENSSL_VERSION_INFO[0] >= 3 else "libcrypto.so.1.1")
        function = library.ERR_clear_error
        function.restype = None
        clear: Callable[[], None] = function
        return clear
    except (OSError, AttributeError):
        return lambda: None


clear_openssl_errors = _openssl_error_clearer()
"""Empty this thread's OpenSSL error queue. A driver call in a reused thread starts with none left by the
thread's last call: libmariadb (mysqlclient) leaves errors there when it closes a TLS connection, and a
later TLS read in that thread then failed at random ("shutdown while in init")."""


DRIVER_THREADS = DriverThreads()
os.register_at_fork(after_in_child=DRIVER_THREADS._forget)


def in_driver_thread(name: str, fn: Callable[..., Any], *args: Any) -> None:
    """``fn(*args)`` in a driver thread, whatever it raises: a close or clean-up that may talk to a
    server (or a broken connection), never on the event loop's thread, never waited for."""

    def call() -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do
            pass

    DRIVER_THREADS.run(call, name)


async def run_blocking(
    fn: Callable[[], T],
    deadline: Deadline,
    what: str,
    stage: str | None = None,
    *,
    cleanup: Callable[[T], None] | None = None,
) -> T:
    """Run a blocking driver call in a driver thread (:class:`DriverThreads`), bounded by the deadline.

    A call still running at the deadline (or when the test is cancelled) is abandoned (its
    driver has been given the same deadline, so it ends on its own shortly after) and the
    test answers at once; if the abandoned call still succeeds, ``cleanup`` closes what it opened.
    The thread is the call's alone until it returns: an abandoned call never starves the next test.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if future.done():
            if ok and cleanup is not None:
                in_driver_thread(f"wizard-cleanup-{what}", cleanup, value)
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            outcome: tuple[bool, Any] = (False, exc)
        else:
            outcome = (True, result)
        try:
            loop.call_soon_threadsafe(deliver, *outcome)
        except RuntimeError:  # the loop is gone: nobody is waiting any more
            if outcome[0] and cleanup is not None:
                cleanup(outcome[1])

    # In a copy of the caller's context: the driver's log lines carry the test's request id.
    context = contextvars.copy_context()
    DRIVER_THREADS.run(lambda: context.run(target), f"wizard-{what}")
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout=deadline.remaining())
    except TimeoutError:
        future.cancel()  # a late result now goes to ``cleanup``
        raise deadline.timeout_failure(what, stage) from None
    except asyncio.CancelledError:
        future.cancel()  # the test was cancelled (its client went away): a late result goes to ``cleanup``
        raise


@dataclass
class Stage:
    name: str
    status: str = "skipped"
    duration_ms: int | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "duration_ms": self.duration_ms, "detail": self.detail}


STAGE_WORDS: dict[str, str] = {
    "tls": "setting up encryption",
    "authentication": "logging in",
    "database": "opening the database",
    "bucket": "opening the bucket",
    "container": "opening the container",
}
"""Stage names as words in a sentence, for the details of stages settled by another stage's step."""

StageEvent = Literal["start", "stage"]
Listener = Callable[[StageEvent, Stage], None]
"""Hears ``("start", stage)`` when a stage's step begins, and ``("stage", stage)`` once per stage
when it is settled for good (a copy: passed, failed, warning or skipped, with duration and detail)."""


@dataclass
class Diagnosis:
    """Records the stages of one test and builds its verdict.

    With a ``listener``, each stage is told once, in stage order, when it is settled for good:
    when a step of a later stage begins (the earlier stage's notes are written by then), or
    when the verdict is built (the remaining stages, not reached ones as ``skipped``). The
    stages told are then exactly the verdict's ``payload.stages``.
    """

    stage_names: Iterable[str]
    deadline: Deadline
    stages: dict[str, Stage] = field(init=False)
    payload: dict[str, Any] = field(default_factory=dict)
    current: str | None = None
    listener: Listener | None = field(default=None, repr=False)
    _told: set[str] = field(default_factory=set, init=False, repr=False)
    _started: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.stages = {name: Stage(name) for name in self.stage_names}

    def _tell(self, event: StageEvent, stage: Stage) -> None:
        if self.listener is None:
            return
        try:
            self.listener(event, dataclasses.replace(stage))
        except Exception as exc:  # noqa: BLE001 - a listener never breaks a test
            log.warning("a stage listener failed on %s %s: %s", event, stage.name, type(exc).__name__)

    def _settled_before(self, name: str | None) -> None:
        """Tell every stage before ``name`` (all of them when None) not told yet, in stage order."""
        if self.listener is None:
            return
        for stage_name, stage in self.stages.items():
            if stage_name == name:
                break
            if stage_name not in self._told:
                self._told.add(stage_name)
                self._tell("stage", stage)

    async def step(self, name: str, fn: Callable[[], Awaitable[T]], covers: tuple[str, ...] = ()) -> T:
        """Run one step, timed, that settles stage ``name`` (and the later stages in ``covers``).

        A driver's login is one handshake that settles several stages at once (tls,
        authentication, database): on :class:`Failure`, the failure's own stage is marked
        failed, the covered stages before it passed and those after it stay skipped. A deadline
        that hits during the step blames where the step was waiting, whatever stage the failure
        names: its first stage not settled yet (nothing came back, so nothing later passed).
        """
        names = (name, *covers)
        self.current = name
        if self.listener is not None and name not in self._started | self._told:
            self._started.add(name)
            self._settled_before(name)
            self._tell("start", self.stages[name])
        started = time.monotonic()
        try:
            result = await fn()
        except Failure as failure:
            elapsed = int((time.monotonic() - started) * 1000)
            failed = failure.stage if failure.stage in names else name
            if failure.stage in self.stages and failure.stage not in names:
                failed = failure.stage  # e.g. a tunnel step that failed beyond the tunnel
            elif failure.code == Code.CONNECTION_TIMEOUT:
                failed = self._waiting_on(names)
            for index, stage_name in enumerate(names):
                if stage_name == failed:
                    break
                if self.stages[stage_name].status != "skipped":
                    continue  # settled before the step (e.g. tls when none was asked for): it keeps its words
                if index == 0:
                    self._settle(stage_name, "passed", None)
                else:
                    self._settle_covered(stage_name, name)
            self._settle(failed, "failed", elapsed)
            self.stages[failed].detail = failure.detail or CATALOG[failure.code].title
            raise
        elapsed = int((time.monotonic() - started) * 1000)
        self._settle(name, "passed", elapsed)
        for stage_name in covers:
            self._settle_covered(stage_name, name)
        return result

    def _waiting_on(self, names: tuple[str, ...]) -> str:
        """The first of a step's stages that nothing has settled yet: where the step was when time ran out."""
        return next((n for n in names if self.stages[n].status == "skipped"), names[0])

    def _settle_covered(self, name: str, timed_in: str) -> None:
        """A stage settled by another stage's step: passed, no time of its own, and it says so (in words
        a person reads: the stage names themselves stay in ``name``)."""
        stage = self.stages[name]
        if stage.status == "skipped":
            stage.status = "passed"
        if stage.detail is None:
            stage.detail = f"Checked in the same exchange with the server as {STAGE_WORDS.get(timed_in, timed_in)}; its time is counted there."

    def _settle(self, name: str, status: str, duration_ms: int | None) -> None:
        stage = self.stages[name]
        if stage.status in ("skipped",) or status == "failed":
            stage.status = status
        if duration_ms is not None or stage.duration_ms is None:
            stage.duration_ms = duration_ms if duration_ms is not None else 0

    def mark(self, name: str, status: str, detail: str | None = None, duration_ms: int | None = None) -> None:
        stage = self.stages[name]
        stage.status = status
        if detail is not None:
            stage.detail = detail
        if duration_ms is not None:
            stage.duration_ms = duration_ms

    def note(self, name: str, detail: str) -> None:
        self.stages[name].detail = detail

    def advice(self, code: Code) -> Advice | None:
        """The plain words of ``code`` for what this test observed: a deadline after the tcp stage
        passed was no dropped connection (the port accepted it) but a silence after it."""
        if code == Code.CONNECTION_TIMEOUT and self.stages.get("tcp", Stage("tcp")).status == "passed":
            return ACCEPTED_THEN_SILENT
        return CATALOG.get(code)

    def _keep_detail(self, detail: str, stage: str | None) -> None:
        """Keep a failure's own words (often the driver's) once, on the stage that failed, not in the body.

        A failure raised outside a step has no failed stage yet: ``stage`` (its own, else its code's) fails.
        """
        if any(s.detail and detail in s.detail for s in self.stages.values()):
            return
        failed = next((s for s in self.stages.values() if s.status == "failed"), None)
        if failed is None:
            failed = self.stages.get(stage or "") or next(iter(self.stages.values()), None)
            if failed is None:
                return
            failed.status = "failed"
        failed.detail = f"{failed.detail} {detail}" if failed.detail else detail

    def stage_list(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.stages.values()]

    def message(
        self,
        code: Code,
        *,
        kind: SystemMessageKind,
        title: str | None = None,
        body: str | None = None,
        detail: str = "",
        fields: Mapping[str, list[str]] | None = None,
    ) -> ApplicationMessage:
        advice = self.advice(code)
        text = body or (advice.body if advice else "")
        if detail:
            self._keep_detail(detail, advice.stage if advice else None)
        self._settled_before(None)
        payload = {"stages": self.stage_list(), "elapsed_ms": self.deadline.elapsed_ms(), **self.payload}
        return ApplicationMessage(
            code=code.value,
            title=title or (advice.title if advice else code.value),
            body=text,
            kind=kind,
            durability=Durability.temporary,
            details=dict(fields) if fields else None,
            display=Display.field if fields else Display.notification,
            payload=payload,
        )

    def failure_message(self, failure: Failure) -> ApplicationMessage:
        if failure.detail:
            advice = CATALOG.get(failure.code)
            self._keep_detail(failure.detail, failure.stage or (advice.stage if advice else None))
        return self.message(
            failure.code,
            kind=failure.kind,
            title=failure.title,
            body=failure.body,
            detail=failure.detail,
            fields=failure.fields,
        )
