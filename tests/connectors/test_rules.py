"""The one error engine (backend/core/rules.py) and the TLS helpers every connector shares (hooks/tls.py)."""

from __future__ import annotations

import ssl

import pytest

from backend.core.rules import ErrorFacts, ErrorRule, classify, exception_chain, match
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from backend.hooks import tls
from backend.spec.schemas import CreateSSLHooksSchema

RULES = (
    ErrorRule(Code.PORT_CLOSED, {"port": "closed"}, exception=ConnectionRefusedError, stage="tcp"),
    ErrorRule(Code.AUTHENTICATION_FAILED, {"password": "wrong"}, sqlstate="28P01", pattern="password"),
    ErrorRule(Code.DATABASE_NOT_FOUND, {"database": "none"}, number=1049),
    ErrorRule(Code.PERMISSION_DENIED, {"database": "denied"}, number=1044),
    ErrorRule(Code.TLS_CERTIFICATE_INVALID, {f"{tls.FIELD}.ca": "untrusted"}, pattern=r"certificate verify failed"),
    ErrorRule(Code.TLS_HANDSHAKE_FAILED, pattern=r"certificate"),
)


def wrapped(inner: BaseException) -> Exception:
    """A driver error raised while handling ``inner`` (its ``__context__``)."""
    try:
        raise inner
    except BaseException:  # noqa: BLE001 - building a chain on purpose
        try:
            raise RuntimeError("driver: cannot connect (1049)")
        except RuntimeError as outer:
            return outer


def test_the_strongest_evidence_wins_whatever_the_order_of_the_table() -> None:
    # a refused socket under the driver's wrapper beats the number the driver put on it
    facts = ErrorFacts.of(wrapped(ConnectionRefusedError()), numbers=(1049,))
    assert match(facts, RULES) is RULES[0]
    # a SQLSTATE beats a number, and a number beats the text
    assert match(ErrorFacts("password authentication failed", sqlstate="28P01", numbers=(1049,)), RULES) is RULES[1]
    assert match(ErrorFacts("certificate verify failed", numbers=(1044,)), RULES) is RULES[3]


def test_numbers_are_tried_in_the_drivers_order_and_text_is_the_last_resort() -> None:
    assert match(ErrorFacts("x", numbers=(1044, 1049)), RULES) is RULES[3]
    assert match(ErrorFacts("x", numbers=(7, 1049)), RULES) is RULES[2]
    # within the text, the first rule that matches wins: the specific one is listed first
    assert match(ErrorFacts("SSL error: certificate verify failed"), RULES) is RULES[4]
    assert match(ErrorFacts("bad certificate"), RULES) is RULES[5]
    # a rule's pattern still works when the driver gave no SQLSTATE (libpq's logins)
    assert match(ErrorFacts("FATAL: password authentication failed"), RULES) is RULES[1]


def test_the_verdict_renames_blamed_fields_and_keeps_the_drivers_words() -> None:
    failure = classify(ErrorFacts("certificate verify failed"), RULES,
                       blame={f"{tls.FIELD}.ca": f"{tls.FIELD}.ca_filename"})
    assert failure.code is Code.TLS_CERTIFICATE_INVALID
    assert failure.fields == {f"{tls.FIELD}.ca_filename": ["untrusted"]}
    assert failure.detail == "certificate verify failed" and failure.stage == "tls"
    assert classify(ErrorFacts("x", numbers=(1049,)), RULES).stage == "database"  # the code's stage by default


def test_no_rule_is_unexpected_error_with_the_drivers_words() -> None:
    failure = classify(ErrorFacts.of(ValueError("line one\n  line two")), RULES)
    assert failure.code is Code.UNEXPECTED_ERROR and failure.detail == "line one line two"
    assert failure.stage == "authentication"


def test_a_rule_must_match_on_something() -> None:
    with pytest.raises(ValueError):
        ErrorRule(Code.UNEXPECTED_ERROR)


def test_the_chain_is_each_exception_once_outermost_first() -> None:
    inner = ConnectionRefusedError()
    outer = wrapped(inner)
    assert exception_chain(outer) == [outer, inner]
    looped = RuntimeError("a")
    looped.__cause__ = looped
    assert exception_chain(looped) == [looped]


def test_the_chain_follows_the_drivers_own_links() -> None:
    """urllib3 keeps the cause in ``reason``, azure-core in ``inner_exception``, botocore in ``kwargs``."""
    refused = ConnectionRefusedError()
    via_reason = RuntimeError("max retries")
    via_reason.reason = refused  # type: ignore[attr-defined]
    via_inner = RuntimeError("service request")
    via_inner.inner_exception = via_reason  # type: ignore[attr-defined]
    via_kwargs = RuntimeError("endpoint connection")
    via_kwargs.kwargs = {"error": via_inner}  # type: ignore[attr-defined]
    assert exception_chain(via_kwargs) == [via_kwargs, via_inner, via_reason, refused]
    assert match(ErrorFacts.of(via_kwargs), RULES) is RULES[0]


# --- TLS helpers --------------------------------------------------------------------------------


def verify_error(code: int) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    err.verify_code = code
    return err


class Params:
    """The part of a request the helpers read: ``hooks_params.SSL``."""

    def __init__(self, **ssl_fields: str) -> None:
        self.hooks_params = type("Hooks", (), {"SSL": CreateSSLHooksSchema(**ssl_fields)})()


@pytest.mark.parametrize("code", [62, 64])  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
def test_a_name_or_address_mismatch_blames_the_host(code: int) -> None:
    failure = tls.certificate_failure(verify_error(code), f"{tls.FIELD}.ca")
    assert failure.code is Code.TLS_CERTIFICATE_INVALID and list(failure.fields) == ["host"]


def test_an_untrusted_chain_blames_the_field_that_gave_the_ca() -> None:
    params = Params(ca_filename="ca.pem")
    failure = tls.certificate_failure(verify_error(20), tls.blame_in(params, "ca"))  # unable to get local issuer
    assert list(failure.fields) == [f"{tls.FIELD}.ca_filename"]
    assert tls.blame_map(params)[f"{tls.FIELD}.ca"] == f"{tls.FIELD}.ca_filename"
    assert tls.blame_map(Params(ca="-----BEGIN CERTIFICATE-----"))[f"{tls.FIELD}.ca"] == f"{tls.FIELD}.ca"


def test_mode_words_map_the_same_meaning_and_refuse_with_a_reason() -> None:
    words = tls.ModeWords(("DISABLED", "VERIFY_IDENTITY"), {"verify-full": "VERIFY_IDENTITY"}, {"allow": "No such mode."})
    assert words.resolve("verify_identity") == "VERIFY_IDENTITY"
    assert words.resolve("VERIFY-FULL") == "VERIFY_IDENTITY"
    assert words.resolve("  ") is None
    with pytest.raises(Failure) as caught:
        words.resolve("allow")
    why = caught.value.fields[tls.MODE_FIELD][0]
    assert caught.value.code is Code.INVALID_PARAMETERS
    assert why.startswith("No such mode.") and "DISABLED, VERIFY_IDENTITY, verify-full" in why
