"""Connection and subscription JWTs that Centrifugo v6 accepts, and a getToken endpoint.

    tokens = TokenMinter.from_settings(settings.centrifugo)
    token = tokens.connection("42", ttl=3600, info={"name": "Ada"})
    sub_token = tokens.subscription("42", "private:room-1", ttl=600)

Tokens are signed with HMAC-SHA256 and ``centrifugo.token_secret``, or, when
``centrifugo.token_private_key`` names a PEM RSA or EC private key, with
RS256/ES256 (Centrifugo's config then carries the matching public key).

A browser's centrifuge-js ``getToken`` calls the endpoint of :func:`token_routes`.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.centrifugo import CentrifugoSettings, TokenKey, load_private_key

from .errors import HubError
from .settings import MIN_TOKEN_SECRET_BYTES

log = logging.getLogger(__name__)

#: Finds the user of a request (session cookie, header, ...); None means not logged in.
Authenticate = Callable[[Request], str | Awaitable[str | None] | None]
#: May ``user`` subscribe to ``channel``? Decides subscription tokens.
Authorize = Callable[[str, str], bool | Awaitable[bool]]


class TokenMinter:
    """Mints JWTs for one Centrifugo (its HMAC secret or its key pair)."""

    def __init__(self, *, secret: str = "", key: TokenKey | None = None, ttl: float = 3600) -> None:
        if not secret and key is None:
            raise HubError("tokens need centrifugo.token_secret or centrifugo.token_private_key")
        self._signing_key: str | bytes = key.private_pem if key is not None else secret
        self.algorithm = key.algorithm if key is not None else "HS256"
        self.ttl = ttl
        if key is None and len(secret.encode()) < MIN_TOKEN_SECRET_BYTES:
            log.warning(
                "centrifugo.token_secret is %d bytes, under the %d that HS256 wants: tokens are "
                "easy to forge (`hub check` refuses it)", len(secret.encode()), MIN_TOKEN_SECRET_BYTES,
            )  # fmt: skip

    @classmethod
    def from_settings(cls, settings: CentrifugoSettings, *, ttl: float = 3600) -> TokenMinter:
        """Sign with the private key if one is configured, else with the HMAC secret."""
        key = load_private_key(settings.token_private_key) if settings.token_private_key else None
        return cls(secret=settings.token_secret, key=key, ttl=ttl)

    def connection(
        self,
        user: str,
        *,
        ttl: float | None = None,
        expire_at: int | None = None,
        info: Any = None,
        channels: Iterable[str] = (),
        subs: Mapping[str, Mapping[str, Any]] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        """A connection token for ``user`` ("" is anonymous).

        ``ttl`` (seconds) sets ``exp``; ``expire_at`` (Unix time, 0 = never)
        overrides when the connection itself expires. ``channels`` are
        server-side subscriptions; ``subs`` maps a channel to its options
        (``info``, ``data``, ``override``); ``meta`` stays on the server.

            tokens.connection("42", channels=["user:42"], meta={"plan": "pro"})
        """
        claims = self._base(user, ttl)
        if expire_at is not None:
            claims["expire_at"] = expire_at
        if info is not None:
            claims["info"] = info
        if channels:
            claims["channels"] = list(channels)
        if subs:
            claims["subs"] = {c: dict(o) for c, o in subs.items()}
        if meta:
            claims["meta"] = dict(meta)
        return self._sign(claims)

    def subscription(
        self,
        user: str,
        channel: str,
        *,
        ttl: float | None = None,
        expire_at: int | None = None,
        info: Any = None,
        data: Any = None,
        client: str = "",
        override: Mapping[str, Any] | None = None,
    ) -> str:
        """A subscription token letting ``user`` subscribe to ``channel``.

        tokens.subscription("42", "private:room-1", info={"role": "admin"})
        """
        claims = self._base(user, ttl)
        claims["channel"] = channel
        if expire_at is not None:
            claims["expire_at"] = expire_at
        if info is not None:
            claims["info"] = info
        if data is not None:
            claims["data"] = data
        if client:
            claims["client"] = client
        if override:
            claims["override"] = dict(override)
        return self._sign(claims)

    def _base(self, user: str, ttl: float | None) -> dict[str, Any]:
        now = int(time.time())
        exp = now + int(self.ttl if ttl is None else ttl)
        return {"sub": user, "iat": now, "exp": exp, "jti": uuid.uuid4().hex}

    def _sign(self, claims: dict[str, Any]) -> str:
        with warnings.catch_warnings():
            # Said once, at construction, naming the setting; not again with a library path.
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            return jwt.encode(claims, self._signing_key, algorithm=self.algorithm)


def token_routes(
    tokens: TokenMinter | Callable[[], TokenMinter],
    authenticate: Authenticate,
    *,
    authorize: Authorize | None = None,
    path: str = "/centrifugo/token",
    subscription_path: str = "/centrifugo/subscription-token",
) -> list[BaseRoute]:
    """Starlette routes a browser's ``getToken`` calls; JSON ``{"token": ...}``.

    ``POST {path}``: a connection token for the user ``authenticate(request)``
    returns, 401 when it returns None. With ``authorize``, also ``POST
    {subscription_path}`` with body ``{"channel": "..."}``: a subscription
    token, 403 when ``authorize(user, channel)`` is false. ``tokens`` is a
    minter, or a function returning one, called per request (a minter that
    exists only once the app runs: :meth:`hub.App.token_routes` passes ``lambda: app.tokens``).

        def user_of(request):
            return request.session.get("user_id")   # or a header, a cookie ...

        app = Starlette(routes=token_routes(TokenMinter.from_settings(s.centrifugo), user_of))

    and in the browser::

        new Centrifuge(url, {getToken: async () =>
            (await (await fetch("/centrifugo/token", {method: "POST"})).json()).token})
    """

    def minter() -> TokenMinter:
        return tokens if isinstance(tokens, TokenMinter) else tokens()

    async def user_of(request: Request) -> str | None:
        user = authenticate(request)
        if inspect.isawaitable(user):
            user = await user
        return user

    async def connection_token(request: Request) -> Response:
        user = await user_of(request)
        if user is None:
            return JSONResponse({"error": "not authenticated"}, status_code=401)
        return JSONResponse({"token": minter().connection(user)})

    async def subscription_token(request: Request) -> Response:
        assert authorize is not None
        user = await user_of(request)
        if user is None:
            return JSONResponse({"error": "not authenticated"}, status_code=401)
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        channel = body.get("channel") if isinstance(body, dict) else None
        if not isinstance(channel, str) or not channel:
            return JSONResponse({"error": 'expected a JSON body {"channel": "..."}'}, status_code=400)
        allowed = authorize(user, channel)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            return JSONResponse({"error": "permission denied"}, status_code=403)
        return JSONResponse({"token": minter().subscription(user, channel)})

    routes: list[BaseRoute] = [Route(path, connection_token, methods=["POST"])]
    if authorize is not None:
        routes.append(Route(subscription_path, subscription_token, methods=["POST"]))
    return routes
