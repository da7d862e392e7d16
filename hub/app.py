"""The application: a registry of handlers, one decorator per proxy kind.

    app = App()

    @app.on_connect
    async def connect(request: ConnectRequest) -> ConnectResult | Error:
        user = request.json().get("user")
        return ConnectResult(user=user) if user else Error(code=401, message="who are you?")

    @app.rpc("chat.send")
    def send(request: RPCRequest) -> dict:        # sync handlers run in a thread
        return {"ok": True}

    @app.on_subscribe("chat", "room-*")           # namespace patterns (fnmatch)
    async def subscribe(request: SubscribeRequest) -> None:
        return None                               # None allows with namespace defaults

Deny by default: a subscribe, publish or sub_refresh in a namespace with no
handler is refused with 103 (permission denied); an unknown RPC method gets
104 (method not found).

Publishing goes through the app's lifecycle, which owns the publisher::

    async with app.lifespan(settings):       # `hub serve` does this for you
        await app.publish("chat:lobby", {"text": "hi"})
        app.publisher.presence("chat:lobby")  # the rest of the server API

    app.publish_sync("chat:lobby", {...})     # from a sync handler (a thread)

Jobs (docs/jobs.md): handlers by name, pushed from anywhere the lifespan is open::

    @app.job("reports.build")
    async def build(job: Job) -> dict:
        await job.publish(f"user:{job.payload['user']}", {"progress": 100})
        return {"ok": True}

    await app.jobs.push("reports.build", {"user": "42"})

Tokens for browsers (docs/web.md): ``app.tokens`` mints JWTs with the settings the
process runs with, and ``app.token_routes(...)`` is the getToken endpoint for a web
app that ``hub serve`` runs next to the proxy (hub.yaml ``web:``)::

    web = Starlette(routes=app.token_routes(lambda request: request.cookies.get("user")))
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from hub.centrifugo import (
    CentrifugoSettings,
    Disconnect,
    Error,
    ErrorCode,
    Outcome,
    Request,
    RPCResult,
    Usage,
)
from hub.centrifugo.kinds import KINDS, Route
from hub.clients import ApiTimeoutError, Published, Publisher, PublisherError

from .errors import HubError
from .jobs import Jobs
from .jobs.memory_driver import MemoryBroker
from .metrics import Registry
from .publishing import publisher_for
from .settings import Settings
from .tokens import Authenticate, Authorize, TokenMinter, token_routes

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

HandlerFn = Callable[[Any], Any]


class PublishManyOptions(TypedDict, total=False):
    """Options of :meth:`App.publish_many`, for every pair."""

    tags: Mapping[str, str] | None
    delta: bool
    skip_history: bool
    idempotent: bool


class PublishOptions(TypedDict, total=False):
    """Options of :meth:`App.publish`, as :meth:`hub.clients.Publisher.publish` takes them."""

    tags: Mapping[str, str] | None
    idempotency_key: str | None
    delta: bool
    skip_history: bool


#: A per-process resource of the app: ``fn(app)`` is an async context manager.
Lifespan = Callable[["App"], contextlib.AbstractAsyncContextManager[Any]]
F = TypeVar("F", bound=HandlerFn)

_DENIED = Error(code=ErrorCode.PERMISSION_DENIED, message="permission denied")


def namespace_of(channel: str) -> str:
    """The namespace of a channel: ``chat`` for ``chat:index``, "" for ``news``."""
    namespace, sep, _ = channel.partition(":")
    return namespace if sep else ""


class App:
    """The handler registry of one application."""

    def __init__(self) -> None:
        self._single: dict[str, HandlerFn] = {}
        self._channel: dict[str, list[tuple[str, HandlerFn]]] = {}
        self._rpc: dict[str, HandlerFn] = {}
        self._publisher: Publisher | None = None
        #: Application metrics, summed over the pool on the ops listener's /metrics.
        self.metrics = Registry()
        self._jobs: dict[str, HandlerFn] = {}
        self._pipelines: Jobs | None = None
        self._lifespans: list[Lifespan] = []
        #: The token settings of the open lifespan; the minter is made on first use.
        self._token_settings: CentrifugoSettings | None = None
        self._tokens: TokenMinter | None = None

    # -- registration ---------------------------------------------------------

    def on_connect(self, fn: F) -> F:
        """Decide whether a client without a token may connect, and as whom."""
        self._single["connect"] = fn
        return fn

    def on_refresh(self, fn: F) -> F:
        """Extend (or end) a connection whose ``expire_at`` is near."""
        self._single["refresh"] = fn
        return fn

    def on_subscribe(self, *patterns: str) -> Callable[[F], F]:
        """Decide subscriptions to channels of the namespaces matching ``patterns``."""
        return self._channel_decorator("subscribe", patterns)

    def on_publish(self, *patterns: str) -> Callable[[F], F]:
        """Decide (and may rewrite) client publications in matching namespaces."""
        return self._channel_decorator("publish", patterns)

    def on_sub_refresh(self, *patterns: str) -> Callable[[F], F]:
        """Extend (or end) subscriptions whose ``expire_at`` is near."""
        return self._channel_decorator("sub_refresh", patterns)

    def rpc(self, method: str) -> Callable[[F], F]:
        """Answer the client RPC ``method``; the return value is the RPC's result."""

        def register(fn: F) -> F:
            if method in self._rpc:
                raise ValueError(f"RPC method {method!r} already has a handler")
            self._rpc[method] = fn
            return fn

        return register

    def job(self, name: str) -> Callable[[F], F]:
        """Run jobs named ``name`` (sync handlers in a thread); the return value is kept as the result.

        @app.job("reports.build")
        async def build(job: Job) -> dict:
            return {"pages": 3}
        """

        def register(fn: F) -> F:
            if name in self._jobs:
                raise ValueError(f"job {name!r} already has a handler")
            self._jobs[name] = fn
            return fn

        return register

    def job_handler(self, name: str) -> HandlerFn | None:
        """The handler of jobs named ``name``, or None (such jobs are dead-lettered)."""
        return self._jobs.get(name)

    @property
    def job_names(self) -> list[str]:
        """The names this app has job handlers for."""
        return sorted(self._jobs)

    def _channel_decorator(self, kind: str, patterns: tuple[str, ...]) -> Callable[[F], F]:
        if not patterns:
            raise ValueError(f"on_{kind} needs at least one namespace pattern ('' for none)")

        def register(fn: F) -> F:
            self._channel.setdefault(kind, []).extend((p, fn) for p in patterns)
            return fn

        return register

    # -- lookup ---------------------------------------------------------------

    def handler_for(self, request: Request) -> HandlerFn | None:
        """The handler that serves this request, or None (the call is refused)."""
        kind = KINDS[request.kind]
        if kind.route is Route.METHOD:
            return self._rpc.get(request.method)  # type: ignore[union-attr]
        if kind.route is Route.SINGLE:
            return self._single.get(kind.name)
        namespace = namespace_of(request.channel)  # type: ignore[union-attr]
        routes = self._channel.get(kind.name, ())
        for pattern, fn in routes:
            if pattern == namespace:
                return fn
        for pattern, fn in routes:
            if fnmatchcase(namespace, pattern):
                return fn
        return None

    def usage(self) -> Usage:
        """Which kinds and namespaces this app handles (for Centrifugo's config)."""
        return Usage(
            single=[k for k in KINDS if k in self._single],
            channel_patterns={k: [p for p, _ in v] for k, v in self._channel.items()},
            rpc_namespaces=sorted({namespace_of(m) for m in self._rpc}),
        )

    # -- publishing -----------------------------------------------------------

    def on_lifespan(self, fn: Lifespan) -> Lifespan:
        """Register a per-process resource, opened before the first call, closed after the last.

        Pooled, it opens in every worker, never in the front process::

            @app.on_lifespan
            @contextlib.asynccontextmanager
            async def database(app):
                async with make_pool() as pool:
                    yield
        """
        self._lifespans.append(fn)
        return fn

    @contextlib.asynccontextmanager
    async def lifespan(self, settings: Settings, *, memory: MemoryBroker | None = None) -> AsyncIterator[App]:
        """Open the app's resources (the publisher, the jobs pipelines, then each ``on_lifespan``).

        ``memory``: the service's memory pipelines, when they live in this process.

        async with app.lifespan(settings):
            await app.publish("news", {"title": "hello"})

        Resources close in reverse order, while the publisher is still open.
        """
        if self._publisher is not None:
            raise HubError("App.lifespan() is already open (one publisher per process)")
        async with publisher_for(settings) as publisher, Jobs(settings.jobs, memory=memory) as jobs:
            self._publisher = publisher
            self._pipelines = jobs
            self._token_settings = settings.centrifugo
            try:
                async with contextlib.AsyncExitStack() as stack:
                    for fn in self._lifespans:
                        await stack.enter_async_context(fn(self))
                    yield self
            finally:
                self._publisher = None
                self._pipelines = None
                self._token_settings = self._tokens = None

    @property
    def publisher(self) -> Publisher:
        """The open publisher (presence, history, broadcast, ...); HubError outside the lifespan."""
        if self._publisher is None:
            raise HubError(
                "the app has no open publisher: publish inside `async with app.lifespan(settings):` "
                "(`hub serve` opens it for handlers and jobs)"
            )
        return self._publisher

    @property
    def jobs(self) -> Jobs:
        """The open jobs pipelines (push, push_many, status); HubError outside the lifespan."""
        if self._pipelines is None:
            raise HubError(
                "the app's jobs pipelines are not open: push inside `async with app.lifespan(settings):` "
                "(`hub serve` opens them for handlers and jobs)"
            )
        return self._pipelines

    @property
    def tokens(self) -> TokenMinter:
        """Mints connection and subscription JWTs with the settings this process runs with;
        HubError outside the lifespan.

            token = app.tokens.connection("42", info={"name": "Ada"})
        """
        if self._token_settings is None:
            raise HubError(
                "the app has no token settings: mint tokens inside `async with app.lifespan(settings):` "
                "(`hub serve` opens it for handlers, jobs and the web app)"
            )
        if self._tokens is None:
            self._tokens = TokenMinter.from_settings(self._token_settings)
        return self._tokens

    def token_routes(
        self,
        authenticate: Authenticate,
        *,
        authorize: Authorize | None = None,
        path: str = "/centrifugo/token",
        subscription_path: str = "/centrifugo/subscription-token",
    ) -> list[BaseRoute]:
        """The getToken endpoints (:func:`hub.tokens.token_routes`), minting with :attr:`tokens`.

        Built at import time, they read :attr:`tokens` per request, so they serve in
        any process where the lifespan is open (every worker of ``hub serve``)::

            web = Starlette(routes=[*app.token_routes(user_of, authorize=may_join), ...])
        """
        return token_routes(
            lambda: self.tokens,
            authenticate,
            authorize=authorize,
            path=path,
            subscription_path=subscription_path,
        )

    async def publish(self, channel: str, data: Any, **options: Unpack[PublishOptions]) -> Published:
        """Publish ``data`` (any JSON value) to the subscribers of ``channel``.

            result = await app.publish("chat:lobby", {"text": "hi"})

        ``options``: ``tags``, ``idempotency_key``, ``delta``, ``skip_history``.
        Concurrent calls share batch requests; transient failures are retried
        (safely: every publish has an idempotency key); errors are
        :class:`hub.clients.PublisherError` subclasses.
        """
        publisher = self.publisher
        coroutine = publisher.publish(channel, data, **options)
        if asyncio.get_running_loop() is publisher.loop:
            return await coroutine
        # Called from another event loop (a web framework's, in another thread): hop over.
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, publisher.loop))

    async def publish_many(
        self, items: Iterable[tuple[str, Any]], **options: Unpack[PublishManyOptions]
    ) -> list[Published | PublisherError]:
        """Publish many ``(channel, data)`` pairs with one awaitable; one result or error per pair.

            results = await app.publish_many([(f"user:{u}", note) for u in users])

        Cheaper per publication than as many concurrent :meth:`publish` calls (see
        :meth:`hub.clients.Publisher.publish_many`); ``options``: ``tags``, ``delta``,
        ``skip_history``, for every pair, and ``idempotent=False`` to send no idempotency keys.
        """
        publisher = self.publisher
        coroutine = publisher.publish_many(items, **options)
        if asyncio.get_running_loop() is publisher.loop:
            return await coroutine
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, publisher.loop))

    def publish_sync(self, channel: str, data: Any, **options: Unpack[PublishOptions]) -> Published:
        """:meth:`publish` for sync code running in a thread (a sync handler, a worker thread).

        @app.rpc("chat.send")
        def send(request):
            app.publish_sync("chat:lobby", request.json())
        """
        publisher = self.publisher
        loop = publisher.loop
        with contextlib.suppress(RuntimeError):
            if asyncio.get_running_loop() is loop:
                raise HubError("publish_sync() called on the event loop's thread: use `await app.publish()`")
        coroutine = publisher.publish(channel, data, **options)
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        s = publisher.settings
        try:  # a stopped or blocked loop must not hang the thread forever
            return future.result(timeout=s.retry_timeout + 2 * s.request_timeout + 1)
        except TimeoutError:
            future.cancel()
            raise ApiTimeoutError(
                "publish_sync: no result in time (is the publisher's event loop blocked or stopped?)"
            ) from None

    # -- running --------------------------------------------------------------

    async def run(self, request: Request) -> Outcome:
        """Run the request's handler (sync ones in a thread) and return its outcome."""
        fn = self.handler_for(request)
        if fn is None:
            return refusal(request)
        if inspect.iscoroutinefunction(fn):
            value = await fn(request)
        else:
            value = await asyncio.to_thread(fn, request)
            if inspect.isawaitable(value):
                value = await value
        return outcome_of(request, value)


def refusal(request: Request) -> Outcome:
    """Deny by default: what a call without a handler gets."""
    kind = KINDS[request.kind]
    if kind.route is Route.METHOD:
        return Error(code=ErrorCode.METHOD_NOT_FOUND, message=f"method not found: {request.method}")  # type: ignore[union-attr]
    if kind.extends:
        return kind.result(expired=True)  # type: ignore[call-arg]
    return _DENIED


def outcome_of(request: Request, value: Any) -> Outcome:
    """Turn a handler's return value into an outcome, or raise TypeError."""
    kind = KINDS[request.kind]
    if isinstance(value, Error | Disconnect | kind.result):
        return value
    if kind.route is Route.METHOD:
        return RPCResult(data=value)
    # A channel handler's None allows with the namespace's defaults.
    if value is None and kind.channel:
        return kind.result()  # type: ignore[call-arg]  # channel results have no required field
    raise TypeError(
        f"{kind.name} handler returned {type(value).__name__}; "
        f"expected {kind.result.__name__}, Error or Disconnect"
        + (" (or None to allow)" if kind.channel else "")
    )


# -- lifecycle: runs in every process that runs handlers (each pooled worker, or inline) --
