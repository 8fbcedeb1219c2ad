"""What the object-store examinations share (S3, ADLS): the access items, and the write probe.

Object stores have none of a database's capabilities but deletion (their functionalities list
only DATA_DELETION, under idempotent writing); what matters is basic access under
``remote_path``. The write probe puts a throwaway object ``<remote_path>wizard_probe_<random>``,
finds it in a listing, reads it back and deletes it; an object it could not delete is reported
as a leftover, never silently kept. Every call is bounded by the test's deadline; the delete of
an object the probe did put gets a short grace after it (``DELETE_GRACE_S``), because leaving
it behind would be worse than answering half a second late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from backend.capabilities.facts import Finding, Findings, probe_name
from backend.diagnosis.stages import Deadline, Failure

T = TypeVar("T")
DELETE_GRACE_S = 0.5


class Refused(Exception):
    """The store refused a request for lack of permission (403): an answer, not an error."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class StoreOps:
    """One object store's calls on a key; each raises :class:`Refused` on a permission refusal."""

    put: Callable[[str], Awaitable[None]]
    exists: Callable[[str], Awaitable[bool]]
    read: Callable[[str], Awaitable[None]]
    delete: Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Fixes:
    """The fixes to paste, per access, in the store's own terms."""

    read: str
    write: str
    delete: str


async def bounded(call: Awaitable[T], seconds: float) -> T:
    return await asyncio.wait_for(call, timeout=max(0.01, seconds))


async def write_probe(
    ops: StoreOps, prefix: str, where: str, findings: Findings, fixes: Fixes, deadline: Deadline
) -> None:
    """Put, list, read and delete ``<prefix>wizard_probe_<random>``; the findings say what was confirmed."""
    key = f"{prefix}{probe_name()}"
    try:
        await bounded(ops.put(key), deadline.remaining())
    except Refused as refused:
        text = f"The write probe could not put an object under {where} ({refused.code})."
        findings.access["WRITE"] = findings.access["CREATE"] = Finding.unavailable(text, fixes.write)
        findings.notes.append(f"{text} Nothing was written.")
        return
    except Exception as exc:  # noqa: BLE001 - a timeout or a transport error: the probe could not tell
        findings.notes.append(f"The write probe could not put an object under {where} ({_why(exc)}); nothing is known to be written.")
        return
    confirmed = f"Confirmed by the write probe (it put {key})."
    findings.access["WRITE"] = findings.access["CREATE"] = Finding.available(f"You may write objects under {where}. {confirmed}")
    done = ["put"]
    try:
        if await bounded(ops.exists(key), deadline.remaining()):
            done.append("listed")
        await bounded(ops.read(key), deadline.remaining())
        done.append("read back")
        findings.access["READ"] = Finding.available(f"You may list and read objects under {where}. {confirmed}")
    except Refused as refused:
        findings.access["READ"] = Finding.unavailable(
            f"The write probe could put but not read back an object under {where} ({refused.code}).", fixes.read
        )
    except Exception as exc:  # noqa: BLE001 - reported, the delete still runs
        findings.notes.append(f"The write probe could not read its object back ({_why(exc)}).")
    await _delete(ops, key, where, findings, fixes, deadline, done)


async def _delete(
    ops: StoreOps, key: str, where: str, findings: Findings, fixes: Fixes, deadline: Deadline, done: list[str]
) -> None:
    try:
        await bounded(ops.delete(key), deadline.remaining() + DELETE_GRACE_S)
        gone = await _gone(ops, key, deadline)
    except Refused as refused:
        findings.access["DELETE"] = Finding.unavailable(
            f"You may not delete objects under {where}: the write probe's delete was refused ({refused.code}).", fixes.delete
        )
        gone = False
    except Exception as exc:  # noqa: BLE001 - a timeout: the object may still be there, so it is reported
        findings.notes.append(f"The write probe's delete did not complete ({_why(exc)}).")
        gone = False
    if not gone:
        findings.leftovers.append(f"object {key}")
        findings.notes.append(f"The write probe put {key} ({', '.join(done)}) but could not delete it.")
        return
    findings.access["DELETE"] = Finding.available(f"You may delete objects under {where}. Confirmed by the write probe.")
    findings.notes.append(f"The write probe put {key} under {where} ({', '.join(done)}) and deleted it: nothing was kept.")


async def _gone(ops: StoreOps, key: str, deadline: Deadline) -> bool:
    """After a delete the store accepted: gone unless a listing still shows it (a listing that fails
    cannot contradict the delete)."""
    try:
        return not await bounded(ops.exists(key), deadline.remaining() + DELETE_GRACE_S)
    except Exception:  # noqa: BLE001 - e.g. a SAS without list permission
        return True


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the deadline came first"
    if isinstance(exc, Failure):
        return exc.detail or exc.code.value
    return type(exc).__name__


def deletion_follows_access(findings: Findings) -> None:
    """DATA_DELETION (idempotent writing's only capability here) is deleting objects."""
    findings.capabilities["DATA_DELETION"] = findings.access["DELETE"]
