"""The UI's own vocabulary: stage names and the spec's capability words, in plain language.

No connector facts live here (labels, field names, help and URI schemes come from the API's
``forms/`` endpoint): these are words for the spec's fixed enums and the diagnosis's stages,
each with a readable fallback so a new stage or capability still shows up legibly.
"""

from __future__ import annotations

from backend.formfacts import readable  # the API's own fallback for a name with no label

STAGE_NAMES: dict[str, str] = {
    "parameters": "Check the settings",
    "dns": "Find the server",
    "tcp": "Reach the server",
    "ssh": "Open the SSH tunnel",
    "tls": "Set up encryption",
    "authentication": "Log in",
    "database": "Open the database",
    "query": "Run a test query",
    "kerberos": "Get a Kerberos ticket",
    "bucket": "Open the bucket",
    "container": "Open the container",
    "path": "Find the folder",
}


def stage_name(name: str) -> str:
    return STAGE_NAMES.get(name, readable(name))


FUNCTIONALITY_WORDS: dict[str, str] = {
    "HIGH_PERFORMANCE_WRITING": "Load large amounts of data fast, by moving checks such as indexes, "
    "keys and triggers out of the way during the load and putting them back afterwards.",
    "IDEMPOTENT_WRITING": "Write so that running the same load twice leaves the same data, "
    "without duplicates: tables are emptied or replaced first and keys are kept as given.",
}

CAPABILITY_WORDS: dict[str, str] = {
    "IDENTITY_WRITING": "Write your own values into auto-numbered (identity) columns.",
    "DATA_TRUNCATION": "Empty a table quickly before loading it.",
    "DATA_DELETION": "Delete rows before loading.",
    "INDEX_MANAGEMENT": "Drop or disable indexes during the load and rebuild them after.",
    "FOREIGN_KEY_MANAGEMENT": "Switch off or drop foreign keys during the load and restore them after.",
    "UNIQUE_CONSTRAINT_MANAGEMENT": "Switch off or drop unique constraints during the load and restore them after.",
    "TRIGGER_MANAGEMENT": "Switch off triggers during the load so they do not fire for every row.",
    "SCHEMA_MANAGEMENT": "Create or change tables to fit the data.",
}

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
