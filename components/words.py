"""The UI's own vocabulary: short titles for the spec's fixed names, and a readable fallback.

No connector facts and no backend words live here: labels, field names, help, URI schemes, stage
words and capability words come from the API's ``forms/`` endpoint. What is left are the matrix's
short column titles for the spec's fixed enums, each with a readable fallback.
"""

from __future__ import annotations

import re
from typing import Any


def readable(name: str) -> str:
    """``storage_account_name`` → ``Storage account name``: a name the API gave no words for."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|_+", " ", name).strip()
    return spaced[:1].upper() + spaced[1:].lower() if spaced else name


def _forms() -> Any:
    """This session's ``forms/`` document, if read (``components.session.metadata``)."""
    import streamlit as st

    try:
        meta = st.session_state.get("metadata")
    except Exception:  # noqa: BLE001 - outside a Streamlit run (a unit test): no document
        return None
    return getattr(meta, "forms", None)


def stage_name(name: str) -> str:
    """A stage in the API's own words (``forms/`` ``stages``), else readable."""
    forms = _forms()
    return str(forms.stage(name)) if forms is not None else readable(name)


CAPABILITY_SHORT: dict[str, str] = {
    "IDENTITY_WRITING": "Identity",
    "DATA_TRUNCATION": "Truncate",
    "DATA_DELETION": "Delete",
    "INDEX_MANAGEMENT": "Indexes",
    "FOREIGN_KEY_MANAGEMENT": "Foreign keys",
    "UNIQUE_CONSTRAINT_MANAGEMENT": "Unique",
    "TRIGGER_MANAGEMENT": "Triggers",
    "SCHEMA_MANAGEMENT": "Schema",
}


def capability_label(name: str) -> str:
    """A short column title for the matrix (the full name and meaning go in its tooltip)."""
    return CAPABILITY_SHORT.get(name, readable(name))


KIND_WORDS: dict[str, str] = {
    "ADDITIVE": "adds speed or features",
    "PREVENTIVE": "prevents a problem",
}


def plain(name: str) -> str:
    """A capability, functionality or access name as the API words it (``forms/`` ``words``), else readable."""
    forms = _forms()
    return str(forms.word(name)) if forms is not None else readable(name)


def meaning(name: str) -> str:
    """What a capability, functionality or access name means, in the API's words ("" if none)."""
    forms = _forms()
    return str(forms.meaning(name)) if forms is not None else ""


def stored_mask() -> str | None:
    """How the API shows a stored secret (``forms/`` ``mask``); None before the document is read."""
    forms = _forms()
    return str(forms.mask) if forms is not None else None
