"""Access tokens (JWT, HS256 pinned) and opaque secrets (API keys, refresh tokens).

Access tokens are short-lived and carry the user's ``token_version``: bumping it on the user
revokes every token issued before, so no per-token denylist is needed. A token minted with an
API key (``POST /auth/token``, directly or from another such token) also carries the key's id
(claim ``key``), and dies with the key: see ``deps._check_credential``. Decoding pins the
algorithm list to HS256 (so ``alg: none`` and RS/HS confusion are refused) and requires
``exp``, ``iat``, ``sub`` and ``typ``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt

from ..db.models import utcnow

ALGORITHM = "HS256"
ISSUER = "moments"
API_KEY_PREFIX = "mk_"
REFRESH_PREFIX = "mr_"


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or revoked (message for the client)."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    version: int
    jti: str
    expires_at: datetime
    key_id: str | None = None
    """The API key this token was minted from (directly or through other tokens), if any."""


def load_secret(configured: str | None, data_dir: Path) -> bytes:
    """The signing key: the configured one, else one generated once and kept in data_dir."""
    if configured:
        return configured.encode()
    path = data_dir / "jwt-secret"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two processes starting at once agree on one secret
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def issue_access_token(
    secret: bytes,
    user_id: str,
    version: int,
    lifetime_seconds: int,
    now: datetime | None = None,
    *,
    key_id: str | None = None,
) -> tuple[str, datetime]:
    now = now or utcnow()
    expires = now + timedelta(seconds=lifetime_seconds)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": user_id,
        "ver": version,
        "typ": "access",
        "jti": secrets.token_hex(16),
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    if key_id is not None:
        claims["key"] = key_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


def decode_access_token(secret: bytes, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The access token has expired; refresh it.") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"The access token is not valid ({exc}).") from None
    if claims.get("typ") != "access" or not isinstance(claims.get("ver"), int):
        raise InvalidToken("This is not an access token.")
    key_id = claims.get("key")
    if key_id is not None and not isinstance(key_id, str):
        raise InvalidToken("This is not an access token.")
    return AccessClaims(
        user_id=str(claims["sub"]),
        version=claims["ver"],
        jti=str(claims.get("jti", "")),
        expires_at=datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
        key_id=key_id,
    )


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith((API_KEY_PREFIX, REFRESH_PREFIX))


def new_secret(prefix: str) -> str:
    """A random 256-bit credential with a recognisable prefix (so leaks can be scanned for)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What we store instead of an API key or refresh token."""
    return hashlib.sha256(secret.encode()).hexdigest()
