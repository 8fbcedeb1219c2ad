"""The masking's gates (backend/security/secrets.py) only skip patterns that could not match: the masked text
is the same as with every pattern run on every text."""

from __future__ import annotations

import random
import re

import pytest

from backend.security.secrets import _GATES, _KEYS, _PATTERNS, MASK, Masker, _folded, _keep_mask

MAYBE_CREDENTIALS = re.compile(r"-----BEGIN|://|[=:]|eyJ|(?i:bearer|basic|negotiate)")
"""What the masking asked of a text before running its patterns, before the gates (a regular expression)."""


def ungated(masker: Masker, text: str) -> str:
    """The masking as it was before the gates: the values, then every pattern on every text."""
    if not text:
        return text
    if masker.pattern is not None:
        text = masker.pattern.sub(MASK, text)
    if MAYBE_CREDENTIALS.search(text):
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_mask, text)
    return text


def test_every_key_word_has_a_gate() -> None:
    for word in _KEYS.split("|"):
        assert any(gate in _folded(word) for gate in _GATES[-1]), word
        assert any(gate in _folded(word.upper()) for gate in _GATES[-1]), word


@pytest.mark.parametrize("letter", ["\u0131", "\u0130", "\u017f", "\u212a"])  # ı İ ſ K: what IGNORECASE matches
def test_the_gates_see_what_ignorecase_matches(letter: str) -> None:
    for word in _KEYS.split("|"):
        for ascii_letter in set(word) & set("iks"):
            spelled = word.replace(ascii_letter, letter)
            if re.fullmatch(f"(?i){re.escape(word)}", spelled):
                text = f"{spelled}=hunter2-value"
                assert Masker()(text) == ungated(Masker(), text), text


PIECES = [
    "password", "PASSWORD", "pwd", "Pass", "secret", "AccountKey", "SharedAccessSignature", "sig", "token",
    "api_key", "sessionid", "Authorization", "Bearer", "basic", "Negotiate", "eyJhbGciOi", ".eyJzdWIi", ".sig",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "postgresql://", "user:", "p@ss", "@host",
    "=", ": ", ":", "'", '"', "{", "}", "[", "]", "(", ")", ";", ",", "&", " ", "\n", "127.0.0.1:5432", "YES", "NO",
    "(using password: YES)", "abc123XYZ", "hunter2", "\u0131", "\u0130", "\u017f", "\u212a", "é", "→", "s3cr3t",
]


def test_gated_masking_is_the_same_on_random_texts() -> None:
    rng = random.Random(19)
    maskers = [Masker(), Masker(["hunter2"]), Masker(["p@ss:w/rd#%?&= 'x\"", "7"])]
    for _ in range(20_000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))
        for masker in maskers:
            assert masker(text) == ungated(masker, text), text
