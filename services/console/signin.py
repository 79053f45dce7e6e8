"""Who is at the keyboard: signing staff in, the session cookie, and the CSRF token of every
form.

Signing in is behind one small interface (`SignIn`), so an OIDC provider can replace the
development sign-in without touching a page: an implementation says what the sign-in page
asks for and turns what the user gave (a form today; a provider's callback tomorrow) into a
bearer token the services accept, and verifies such a token on every request. The token
lives in an HttpOnly, SameSite=Strict cookie (never readable by a page's script, never sent
by another site's form), and the console forwards it to the services unchanged.

Every form post carries a CSRF token: an HMAC, under a key derived from the console's
secret, of a random per-browser cookie — a forged form from elsewhere has neither.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import jwt
from fastapi import Request, Response

from shared.auth import Unauthenticated, verify_token
from shared.domain import Actor, utcnow
from shared.settings import Settings

SESSION_COOKIE = "onestop_session"
CSRF_COOKIE = "onestop_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    """A signed-in user: who they are, and the token the services know them by."""

    actor: Actor
    token: str
    expires_at: int
    """Seconds since the epoch: the cookie lives no longer than the token."""


class SignInRefused(Exception):
    """What the user gave does not sign them in; `field` names what to correct."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class SignIn(Protocol):
    """A way staff sign in. `fields` are what the sign-in page asks for (an OIDC sign-in
    asks nothing and sends the browser to its provider instead)."""

    fields: tuple[str, ...]

    def complete(self, given: Mapping[str, str]) -> Session:
        """The session for what the user gave; raises `SignInRefused` naming the field."""
        ...

    def verify(self, token: str) -> Session:
        """The session a stored token still stands for; raises `Unauthenticated`."""
        ...


class TokenSignIn:
    """Development and small centres: paste a token issued by `onestop token`."""

    fields: tuple[str, ...] = ("token",)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def verify(self, token: str) -> Session:
        actor = verify_token(self.settings, token)
        if actor.role in ("system", "petitioner", "integration"):
            raise Unauthenticated(f"a {actor.role} token does not sign in to the console")
        return Session(actor, token, _expiry(token))

    def complete(self, given: Mapping[str, str]) -> Session:
        token = given.get("token", "").strip()
        if not token:
            raise SignInRefused("empty", "token")
        try:
            return self.verify(token)
        except Unauthenticated as error:
            raise SignInRefused(str(error), "token") from None


def _expiry(token: str) -> int:
    """The token's `exp` claim (already verified), so the cookie dies with it."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return int(claims.get("exp", utcnow().timestamp() + 3600))


def current_session(request: Request, signin: SignIn) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return signin.verify(token)
    except Unauthenticated:
        return None


def keep_session(response: Response, session: Session, settings: Settings) -> None:
    max_age = max(0, session.expires_at - int(utcnow().timestamp()))
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=settings.console_secure_cookies,
        path="/",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


class Csrf:
    """The per-browser secret cookie and the token each form carries."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.jwt_secret.get_secret_value().encode()
        self.key = hmac.new(secret, b"onestop console csrf", hashlib.sha256).digest()
        self.secure = settings.console_secure_cookies

    def browser_secret(self, request: Request) -> str:
        """This browser's secret: its cookie's, or a new one (`remember` sets it)."""
        found = request.cookies.get(CSRF_COOKIE, "")
        if len(found) == 43:
            return found
        fresh: str = getattr(request.state, "csrf_fresh", "") or secrets.token_urlsafe(32)
        request.state.csrf_fresh = fresh
        return fresh

    def token(self, request: Request) -> str:
        secret = self.browser_secret(request)
        return hmac.new(self.key, secret.encode(), hashlib.sha256).hexdigest()

    def valid(self, request: Request, given: str | None) -> bool:
        secret = request.cookies.get(CSRF_COOKIE)
        if not secret or not given:
            return False
        wanted = hmac.new(self.key, secret.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(wanted, given)

    def remember(self, request: Request, response: Response) -> None:
        fresh = getattr(request.state, "csrf_fresh", None)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                fresh,
                httponly=True,
                samesite="strict",
                secure=self.secure,
                path="/",
            )
