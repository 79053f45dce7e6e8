"""Bearer JWTs: who is acting, in what role, for which department."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.domain import ROLES, Actor, DomainError, Forbidden, utcnow
from shared.settings import Settings

ALGORITHM = "HS256"


class Unauthenticated(Exception):
    """No token, or one that is not ours, expired or malformed (401)."""


def _key(settings: Settings) -> str:
    key = settings.jwt_secret.get_secret_value()
    if len(key) < 32:
        raise RuntimeError("ONESTOP_JWT_SECRET is missing or shorter than 32 characters")
    return key


def issue_token(
    settings: Settings,
    user: str,
    role: str,
    department: str | None = None,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    actor = Actor(user=user, role=role, department=department)  # validates the role
    now = utcnow()
    claims = {
        "sub": actor.user,
        "role": actor.role,
        "iss": settings.jwt_issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if department:
        claims["department"] = department
    return jwt.encode(claims, _key(settings), algorithm=ALGORITHM)


_verified: dict[tuple[str, str, str], tuple[Actor, float]] = {}
"""Tokens already checked, with their expiry: a clerk sends the same token all day, and
checking its signature again was ~3% of a registration's time."""
_VERIFIED_MAX = 4096


def verify_token(settings: Settings, token: str) -> Actor:
    key = _key(settings)
    seen = _verified.get((key, settings.jwt_issuer, token))
    if seen is not None and seen[1] > utcnow().timestamp():
        return seen[0]
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "role", "exp", "iss"]},
        )
        actor = Actor(user=claims["sub"], role=claims["role"], department=claims.get("department"))
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except (jwt.InvalidTokenError, DomainError) as error:
        raise Unauthenticated(f"the token is not valid: {error}") from None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(key, settings.jwt_issuer, token)] = (actor, float(claims["exp"]))
    return actor


_bearer = HTTPBearer(auto_error=False)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller. `async` though it never waits: a verified token is cached, so this is
    mostly a dictionary look-up, and on the event loop it spares every request a round trip
    through the thread pool."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("send 'Authorization: Bearer <token>' (see `onestop token`)")
    actor = verify_token(request.app.state.settings, credentials.credentials)
    if actor.role in ("system", "petitioner"):
        raise Unauthenticated(f"a {actor.role} identity cannot call the API with a token")
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role!r} may not do this; allowed: {', '.join(roles)}")


CALLER_ROLES = tuple(r for r in ROLES if r not in ("system", "petitioner"))
