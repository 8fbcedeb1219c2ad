"""The ``{id}`` of a saved connection in a path: anything but the name of a fixed path beside it.

Saved connections live at ``/api/v1/database_connections/{id}/`` beside fixed paths such as
``test/`` and ``supported_types/``. Routes are tried in order and the fixed ones come first,
so a right method on a fixed path never reaches ``{id}``; but a wrong one would (``GET test/``
would look up a saved connection called "test" and answer 404). With this convertor, ``{id}``
never matches a fixed path's name, so Starlette finds only the fixed route and answers 405.
Ids are opaque to clients: any other segment still reaches the store (unknown and malformed ids
get the same 404 there).
"""

from __future__ import annotations

import re

from starlette.convertors import Convertor, register_url_convertor

RESERVED = ("test", "supported_types", "functionalities", "capabilities", "forms", "health", "parse_uri")
"""First segments of the fixed paths under ``/api/v1/database_connections/`` (tested against the routes)."""
NEVER_IDS = ("history",)
"""Other words that are never ids of saved connections (docs/design.md), though no fixed path starts with them."""

SAVED_ID = "saved_id"


class SavedIdConvertor(Convertor[str]):
    regex = "(?!(?:" + "|".join(map(re.escape, (*RESERVED, *NEVER_IDS))) + ")/)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor(SAVED_ID, SavedIdConvertor())
