"""The threads of blocking driver calls (backend/diagnosis/stages.py, DriverThreads and run_blocking): reused,
yet a call stuck past its deadline never holds up another, the deadline still holds, and the threads come
back down once stuck calls return. Every wait here is on an event or a poll, never on the clock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest

from backend.diagnosis.messages import Code
from backend.diagnosis.stages import DRIVER_THREADS, IDLE, Deadline, DriverThreads, Failure, run_blocking
from backend.ops.context import REQUEST_ID, current_request_id
from tests.helpers import wait_until


@pytest.fixture
def gates() -> Iterator[list[threading.Event]]:
    """Events that stuck calls wait on; all set at the end, so no test leaves a call stuck."""
    made: list[threading.Event] = []
    yield made
    for gate in made:
        gate.set()


def stuck(gates: list[threading.Event], started: threading.Event | None = None) -> Callable[[], str]:
    """A driver call that blocks until its gate is set (as a driver waiting on a silent server)."""
    gate = threading.Event()
    gates.append(gate)

    def call() -> str:
        if started is not None:
            started.set()
        gate.wait()
        return "late"

    return call


def test_a_stuck_call_is_abandoned_at_the_deadline_and_the_next_call_runs(gates: list[threading.Event]) -> None:
    async def main() -> tuple[Failure, float, str]:
        deadline = Deadline(0.05)
        with pytest.raises(Failure) as failed:
            await run_blocking(stuck(gates), deadline, "a silent server", stage="authentication")
        left = deadline.remaining()
        # The stuck call still holds its thread; the next test's call gets a thread of its own at once.
        return failed.value, left, await run_blocking(lambda: "next", Deadline(3600), "the next call")

    failure, left, following = asyncio.run(main())
    assert failure.code == Code.CONNECTION_TIMEOUT and failure.stage == "authentication"
    assert left == 0.0  # it answered because the deadline passed, not because the call ended
    assert not gates[0].is_set()  # … and the call had not ended: it was abandoned, not waited for
    assert following == "next"


def test_calls_stuck_in_every_waiting_thread_still_leave_the_next_call_a_thread(gates: list[threading.Event]) -> None:
    pool = DriverThreads(keep=2)
    both = threading.Barrier(3)
    for _ in range(2):  # two calls at once: two threads, both waiting for work afterwards
        pool.run(both.wait, "wizard-warm-up")
    both.wait()
    wait_until(lambda: pool.threads == 2 and pool._waiting == 2, what="two waiting threads")
    for _ in range(3):  # more stuck calls than waiting threads
        started = threading.Event()
        pool.run(stuck(gates, started), "wizard-stuck")
        started.wait()
    ran = threading.Event()
    pool.run(ran.set, "wizard-next")
    ran.wait()  # it ran while three calls are stuck: never queued behind them
    assert pool.threads == 4  # the two reused, one started for the third stuck call, one for this call


def test_threads_come_back_down_once_stuck_calls_return(gates: list[threading.Event]) -> None:
    pool = DriverThreads(keep=1)
    used: list[threading.Thread] = []
    for _ in range(5):
        started = threading.Event()
        call = stuck(gates, started)

        def noted(call: Callable[[], str] = call) -> None:
            used.append(threading.current_thread())
            call()

        pool.run(noted, "wizard-stuck")
        started.wait()
    assert len(set(used)) == 5 and pool.threads == 5  # each stuck call in a thread of its own
    for gate in gates:
        gate.set()
    # One thread stays for the next call; the other four end (no thread per call left behind).
    wait_until(lambda: sum(t.is_alive() for t in used) == 1 and pool.threads == 1, what="the threads' end")
    ran = threading.Event()

    def following() -> None:
        used.append(threading.current_thread())
        ran.set()

    pool.run(following, "wizard-next")
    ran.wait()
    assert used[-1] in used[:5] and pool.threads == 1  # the waiting thread took it


def test_a_late_result_is_cleaned_up_and_the_thread_is_freed(gates: list[threading.Event]) -> None:
    cleaned: list[str] = []

    def busy_with_it() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("wizard-") and t.name.endswith("a slow login")]

    async def until(predicate: Callable[[], object]) -> None:
        while not predicate():  # a poll that leaves the event loop free to deliver the late result
            await asyncio.sleep(0.005)

    async def main() -> None:
        with pytest.raises(Failure):
            await run_blocking(stuck(gates), Deadline(0.05), "a slow login", cleanup=cleaned.append)
        assert busy_with_it() == ["wizard-a slow login"]  # still busy, under its call's name
        gates[0].set()  # the driver finally connects, after the test answered
        await until(lambda: cleaned == ["late"])  # the connection it opened is closed
        await until(lambda: not busy_with_it())  # and its thread waits for the next call

    asyncio.run(main())


def test_a_reused_thread_runs_each_call_in_its_callers_context() -> None:
    async def one(request_id: str) -> str:
        REQUEST_ID.set(request_id)
        return await run_blocking(current_request_id, Deadline(3600), "probe")

    async def main() -> list[str]:
        return [await one("first-test"), await one("second-test"), await one("third-test")]

    assert asyncio.run(main()) == ["first-test", "second-test", "third-test"]
    assert DRIVER_THREADS.threads >= 1
    assert any(t.name == IDLE for t in threading.enumerate())  # the thread waits for the next call


def test_a_call_that_raises_leaves_its_thread_serving() -> None:
    pool = DriverThreads(keep=1)

    def broken() -> None:
        raise SystemExit("a call must not end its thread")

    pool.run(broken, "wizard-broken")
    wait_until(lambda: pool._waiting == 1, what="the thread waiting again")
    ran = threading.Event()
    pool.run(ran.set, "wizard-next")
    ran.wait()
    assert pool.threads == 1


def test_a_reused_thread_starts_each_call_with_an_empty_openssl_error_queue() -> None:
    # A driver that leaves errors on its thread's OpenSSL queue (libmariadb closing a TLS connection does)
    # must not hand them to the next call of that thread: a TLS read there failed at random, under load.
    import ctypes

    crypto = ctypes.CDLL("libcrypto.so.3")
    crypto.ERR_peek_error.restype = ctypes.c_ulong
    crypto.d2i_X509.restype = ctypes.c_void_p
    threads = DriverThreads(keep=1)
    seen: list[tuple[str, int]] = []
    done = threading.Event()

    def leave_an_error() -> None:
        garbage = ctypes.create_string_buffer(b"\x30\x03not a certificate")
        cursor = ctypes.c_char_p(ctypes.addressof(garbage))
        crypto.d2i_X509(None, ctypes.byref(cursor), 9)  # fails, and leaves its reason on this thread's queue
        seen.append((threading.current_thread().name, crypto.ERR_peek_error()))

    def look() -> None:
        seen.append((threading.current_thread().name, crypto.ERR_peek_error()))
        done.set()

    threads.run(leave_an_error, "wizard-first")
    wait_until(lambda: threads._waiting == 1, what="the first call's thread waiting for the next")
    threads.run(look, "wizard-second")
    assert done.wait(30)
    assert threads.threads == 1, "the second call ran in the first one's thread"
    assert seen[0][1] != 0, "the first call left an error (else this test proves nothing)"
    assert seen[1] == ("wizard-second", 0), seen
