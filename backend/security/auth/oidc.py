"""Bearer tokens: OIDC JWTs checked against the issuer's published keys (JWKS).

* Only asymmetric signatures are accepted (RSA, RSA-PSS, ECDSA, EdDSA): ``alg: none`` and
  HMAC are refused before any key is looked at, so a public key can never serve as an HMAC
  secret; the key must also be of the type the token's ``alg`` needs (and, when the JWK
  names an ``alg``, that very one).
* Signature, expiry (``exp`` required), not-before, issuer and audience are checked.
* The JWKS is fetched with a deadline, cached for ``max_age_s``, and fetched again for an
  unknown ``kid`` at most once every ``refresh_interval_s`` (a flood of made-up key ids
  cannot turn the wizard against the issuer).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("wizard.auth")

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_ASYMMETRIC_KTY = ("RSA", "EC", "OKP")
MAX_TOKEN_BYTES = 16 * 1024


class InvalidToken(Exception):
    """Why a bearer token is refused (plain words, never the token)."""


class OIDCVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str,
        *,
        fetch_timeout_s: float = 5.0,
        refresh_interval_s: float = 5.0,
        max_age_s: float = 3600.0,
        leeway_s: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer, self.audience, self.jwks_url = issuer, audience, jwks_url
        self.clock = clock
        """What the cache's ages and the refresh interval are measured with (a test's own clock)."""
        self.fetch_timeout_s = fetch_timeout_s
        self.refresh_interval_s = refresh_interval_s
        self.max_age_s = max_age_s
        self.leeway_s = leeway_s
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._fetched_at = 0.0
        self._last_attempt = -1e9
        self._pending: asyncio.Future[None] | None = None
        self.fetches = 0

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or :class:`InvalidToken`."""
        import jwt  # imported on first use: only wizards that accept bearer tokens need it
        from jwt.exceptions import InvalidKeyError, PyJWKError, PyJWTError

        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("The bearer token is too long.")
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise InvalidToken("The bearer token is not a JWT.") from None
        alg = header.get("alg")
        if alg not in ASYMMETRIC:
            raise InvalidToken(f"Tokens signed with '{alg}' are not accepted; use one of {', '.join(ASYMMETRIC)}.")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("The token's key id is not a string.")
        jwk = await self._key(kid)
        if jwk.get("alg") is not None and jwk.get("alg") != alg:
            raise InvalidToken("The token's algorithm is not the one of its signing key.")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
        except (PyJWKError, InvalidKeyError, ValueError, TypeError):
            raise InvalidToken("The token's algorithm does not fit its signing key.") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"], "verify_signature": True},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The bearer token has expired.") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("The bearer token is not meant for this API (audience).") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("The bearer token comes from another issuer.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"The bearer token has no '{exc.claim}' claim.") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("The bearer token is not valid yet.") from None
        except PyJWTError:
            raise InvalidToken("The bearer token's signature is not valid.") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("The bearer token has no subject.")
        return claims

    # --- the keys -----------------------------------------------------------------------------

    async def _key(self, kid: str | None) -> dict[str, Any]:
        now = self.clock()
        stale = now - self._fetched_at > self.max_age_s
        known = kid in self._keys or (kid is None and len(self._keys) == 1)
        pending = self._pending
        if pending is not None and not pending.done() and pending.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(pending)  # a fetch is under way (e.g. the first one): wait for it
        elif (stale or not known) and now - self._last_attempt >= self.refresh_interval_s:
            self._pending = asyncio.ensure_future(self._refresh())
            await asyncio.shield(self._pending)
        if kid is None:
            if len(self._keys) == 1:
                return next(iter(self._keys.values()))
            raise InvalidToken("The bearer token names no signing key (kid).")
        if kid not in self._keys:
            raise InvalidToken("The bearer token is signed with an unknown key.")
        return self._keys[kid]

    async def _refresh(self) -> None:
        import httpx

        self._last_attempt = self.clock()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self.fetch_timeout_s, follow_redirects=False) as client:
                response = await asyncio.wait_for(client.get(self.jwks_url), timeout=self.fetch_timeout_s)
            response.raise_for_status()
            if len(response.content) > 1024 * 1024:
                raise ValueError("the key set is larger than 1 MiB")
            document = json.loads(response.content)
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            log.warning("could not fetch the OIDC signing keys from %s: %s", self.jwks_url, type(exc).__name__)
            if not self._keys:
                raise InvalidToken("The issuer's signing keys could not be fetched.") from None
            return
        keys: dict[str | None, dict[str, Any]] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") not in _ASYMMETRIC_KTY:
                continue  # symmetric ("oct") keys are never used to verify
            if jwk.get("use") not in (None, "sig"):
                continue
            kid = jwk.get("kid")
            keys[kid if isinstance(kid, str) else None] = jwk
        self._keys = keys
        self._fetched_at = self.clock()
