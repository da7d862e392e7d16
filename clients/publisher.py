"""The server-API publisher: one way for application code to reach clients.

    async with Publisher(PublisherSettings(), api_url="http://127.0.0.1:8000/api", api_key=KEY) as pub:
        result = await pub.publish("chat:lobby", {"text": "hi"})
        result.offset, result.epoch          # set when the channel keeps history

Concurrent calls are coalesced into Centrifugo ``batch`` requests (see
``_batch``); each call still gets its own result or its own error. Many
publishes known at once go cheaper through :meth:`Publisher.publish_many`: one
awaitable for all of them, one result or error each. Every
publish and broadcast carries an idempotency key (128 random bits unless given), so
the retries after a network failure never publish twice. Errors are in
:mod:`.errors`. The transport (HTTP JSON or gRPC) is a setting; the API is
the same. One connection pool (or one gRPC channel) per publisher: open one
per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Annotated, Any, Literal, Self

import msgspec

from ._batch import Batcher, PublisherCounts
from ._transport import GrpcTransport, HttpTransport, Transport
from .errors import ApiError, ClosedError, PublisherError
from .results import ClientInfo, History, Node, PresenceStats, Published, StreamPosition

Seconds = Annotated[float, msgspec.Meta(gt=0)]


class PublisherSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the hub calls Centrifugo's server API (hub.yaml ``publisher:``)."""

    #: ``grpc`` needs ``centrifugo.grpc_api_port``.
    transport: Literal["http", "grpc"] = "http"
    #: Centrifugo's HTTP server API at any URL, https included (behind a load balancer,
    #: in another container); default: ``http://<centrifugo.host>:<centrifugo.port>/api``.
    api_url: str = ""
    #: At most this many commands in one batch request.
    batch_max_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500
    #: How long (seconds) a batch waits to fill while other batches are in flight (0: never).
    batch_window: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.001
    #: Batch requests in flight at once; more calls wait (and join bigger batches).
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    #: Calls queued or in flight before new ones fail with OverloadedError.
    max_pending: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    #: Deadline of one request to Centrifugo.
    request_timeout: Seconds = 5.0
    #: How long a call keeps being retried on transient failures before it fails.
    retry_timeout: Annotated[float, msgspec.Meta(ge=0)] = 10.0


class State(enum.Enum):
    """A publisher's life: NEW → OPEN → CLOSING → CLOSED (NEW → CLOSED if opening fails)."""

    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Publisher:
    """An async context manager over Centrifugo's server API; opened once, in one task."""

    def __init__(
        self, settings: PublisherSettings, *, api_url: str, api_key: str, grpc_target: str = ""
    ) -> None:
        if settings.transport == "grpc" and not grpc_target:
            raise ValueError("the gRPC transport needs grpc_target (host:port of Centrifugo's gRPC API)")
        self.settings = settings
        self.api_url = api_url
        self.api_key = api_key
        self.grpc_target = grpc_target
        self._stack: AsyncExitStack | None = None
        self._batcher: Batcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.state = State.NEW

    # -- lifecycle ------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self.state is not State.NEW:
            raise ClosedError(f"a Publisher can be opened only once (this one is {self.state.value})")
        s = self.settings
        transport: Transport
        if s.transport == "grpc":
            transport = GrpcTransport(self.grpc_target, self.api_key, timeout=s.request_timeout)
        else:
            transport = HttpTransport(
                self.api_url, self.api_key, timeout=s.request_timeout, connections=s.concurrency
            )
        self._stack = stack = AsyncExitStack()
        try:
            await transport.open()
            stack.push_async_callback(transport.aclose)
            group = await stack.enter_async_context(asyncio.TaskGroup())
            batcher = Batcher(
                transport,
                max_size=s.batch_max_size,
                window=s.batch_window,
                max_pending=s.max_pending,
                concurrency=s.concurrency,
                retry_timeout=s.retry_timeout,
            )
            flusher = group.create_task(batcher.run(group), name="publisher flusher")
            stack.push_async_callback(self._stop, batcher, flusher)
        except BaseException:
            self.state = State.CLOSED
            await stack.aclose()
            raise
        self._batcher = batcher
        self._loop = asyncio.get_running_loop()
        self.state = State.OPEN
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.state is not State.OPEN:
            return
        self.state = State.CLOSING
        try:
            if self._stack is not None:
                await self._stack.aclose()
        finally:
            self._batcher = None
            self.state = State.CLOSED

    async def _stop(self, batcher: Batcher, flusher: asyncio.Task[None]) -> None:
        """Let pending calls finish (within the retry budget), then stop the flusher."""
        await batcher.drain(self.settings.retry_timeout + self.settings.request_timeout)
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        batcher.fail_pending()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the publisher runs in (for calls from other threads)."""
        if self._loop is None or self._batcher is None:
            raise ClosedError("the publisher is not open")
        return self._loop

    @property
    def is_open(self) -> bool:
        return self.state is State.OPEN

    @property
    def requests(self) -> int:
        """Batch requests sent to Centrifugo so far, retries included (0 when not open)."""
        return self._batcher.counts.requests if self._batcher is not None else 0

    @property
    def counts(self) -> PublisherCounts | None:
        """What this publisher has done since it opened (requests, outcomes, batch sizes), or None."""
        return self._batcher.counts if self._batcher is not None else None

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self._batcher is None:
            raise ClosedError("the publisher is not open: use `async with Publisher(...)`")
        return await self._batcher.call((method, params))

    # -- publishing -----------------------------------------------------------

    async def publish(
        self,
        channel: str,
        data: Any,
        *,
        tags: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        delta: bool = False,
        skip_history: bool = False,
    ) -> Published:
        """Publish ``data`` (any JSON value) into ``channel``.

            await pub.publish("chat:lobby", {"text": "hi"}, tags={"kind": "text"})

        Raises :class:`ApiError` (e.g. code 102 for a channel of an unknown
        namespace), :class:`UnavailableError` once the retry budget is
        spent, :class:`OverloadedError` when too many calls are pending.
        """
        params = _payload(data, tags, idempotency_key, delta, skip_history)
        params["channel"] = channel
        batcher = self._batcher  # the hot path: no extra frame
        if batcher is None:
            raise ClosedError("the publisher is not open: use `async with Publisher(...)`")
        return _published(await batcher.call(("publish", params)))

    async def publish_many(
        self,
        items: Iterable[tuple[str, Any]],
        *,
        tags: Mapping[str, str] | None = None,
        delta: bool = False,
        skip_history: bool = False,
        idempotent: bool = True,
    ) -> list[Published | PublisherError]:
        """Publish many ``(channel, data)`` pairs with one awaitable; one result per pair, in order.

            results = await pub.publish_many([("user:1", {"n": 1}), ("user:2", {"n": 2})])
            failed = [r for r in results if isinstance(r, PublisherError)]

        The pairs share batch requests (and retries) as concurrent :meth:`publish` calls
        do, without a coroutine and a future per publication. Each pair gets its own
        :class:`Published` or its own error in its place (an :class:`ApiError` for a
        refused channel, :class:`UnavailableError` once the retry budget is spent); none
        is left out. Raised before anything is sent: ``TypeError`` naming the first pair
        whose data is not JSON, :class:`OverloadedError` when the pairs would take the
        pending calls over ``publisher.max_pending`` (split bigger lists), and
        :class:`ClosedError` when the publisher is not open.

        Every publication carries its own idempotency key, so a retry never publishes it
        twice. ``idempotent=False`` sends none: Centrifugo then keeps no key (more
        publications a second, docs/benchmarks.md section (4)), and a retry after a lost
        reply may publish twice; for data where a duplicate does no harm (a position, a
        gauge's latest value).
        """
        batcher = self._batcher
        if batcher is None:
            raise ClosedError("the publisher is not open: use `async with Publisher(...)`")
        pairs = items if isinstance(items, list | tuple) else list(items)
        encode = msgspec.json.encode
        payloads: list[msgspec.Raw] = []
        for index, (channel, data) in enumerate(pairs):
            try:  # every payload first: a non-JSON one fails the call before anything is sent
                payloads.append(msgspec.Raw(encode(data)))
            except (TypeError, msgspec.EncodeError) as exc:
                raise TypeError(f"publish_many: item {index} ({channel!r}): not JSON: {exc}") from None
        extra = _options(tags, delta, skip_history)
        # 96 random bits per call and the pair's index: a distinct idempotency key per publication.
        prefix = os.urandom(12).hex() + "-" if idempotent else ""

        def commands() -> Iterator[tuple[str, dict[str, Any]]]:
            for index, ((channel, _), raw) in enumerate(zip(pairs, payloads, strict=True)):
                params: dict[str, Any] = {"channel": channel, "data": raw}
                if prefix:
                    params["idempotency_key"] = f"{prefix}{index}"
                if extra:
                    params.update(extra)
                yield ("publish", params)

        replies = await batcher.call_many(commands(), len(pairs))
        # A channel without history answers {}: the shared empty result, no call per publication.
        return [(_published(r) if r else _NO_POSITION) if isinstance(r, dict) else r for r in replies]

    async def broadcast(
        self,
        channels: Iterable[str],
        data: Any,
        *,
        tags: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        delta: bool = False,
        skip_history: bool = False,
    ) -> list[Published | ApiError]:
        """Publish the same ``data`` into several channels; one result or error per channel.

        results = await pub.broadcast(["user:1", "user:2"], {"alert": "deploy"})
        """
        params = _payload(data, tags, idempotency_key, delta, skip_history)
        params["channels"] = list(channels)
        reply = await self._call("broadcast", params)
        out: list[Published | ApiError] = []
        for response in reply.get("responses") or ():
            error = response.get("error")
            if error:
                out.append(ApiError(error.get("code", 0), error.get("message", "")))
            else:
                out.append(Published.of(response.get("result") or {}))
        return out

    # -- channels -------------------------------------------------------------

    async def presence(self, channel: str) -> dict[str, ClientInfo]:
        """The connections subscribed to ``channel``, by client id (needs ``presence: true``)."""
        reply = await self._call("presence", {"channel": channel})
        return {cid: ClientInfo.of(info) for cid, info in (reply.get("presence") or {}).items()}

    async def presence_stats(self, channel: str) -> PresenceStats:
        reply = await self._call("presence_stats", {"channel": channel})
        return PresenceStats(num_clients=reply.get("num_clients", 0), num_users=reply.get("num_users", 0))

    async def history(
        self, channel: str, *, limit: int = 0, since: StreamPosition | None = None, reverse: bool = False
    ) -> History:
        """Publications kept for ``channel``; ``limit=0`` gives only the position, -1 everything.

        page = await pub.history("chat:lobby", limit=10, since=StreamPosition(offset=5, epoch=e))
        """
        params: dict[str, Any] = {"channel": channel, "limit": limit, "reverse": reverse}
        if since is not None:
            params["since"] = {"offset": since.offset, "epoch": since.epoch}
        return History.of(await self._call("history", params))

    async def history_remove(self, channel: str) -> None:
        await self._call("history_remove", {"channel": channel})

    async def channels(self, pattern: str = "") -> dict[str, int]:
        """Active channels matching ``pattern`` (glob) and their subscriber counts."""
        reply = await self._call("channels", {"pattern": pattern})
        return {name: int(c.get("num_clients", 0)) for name, c in (reply.get("channels") or {}).items()}

    async def info(self) -> list[Node]:
        reply = await self._call("info", {})
        return [Node.of(n) for n in reply.get("nodes") or ()]

    # -- users ----------------------------------------------------------------

    async def subscribe(
        self,
        user: str,
        channel: str,
        *,
        info: Any = None,
        data: Any = None,
        client: str = "",
        session: str = "",
        expire_at: int = 0,
        recover_since: StreamPosition | None = None,
    ) -> None:
        """Subscribe every connection of ``user`` (or one ``client``) to ``channel`` server-side."""
        params: dict[str, Any] = {"user": user, "channel": channel, "client": client, "session": session}
        if expire_at:
            params["expire_at"] = expire_at
        if info is not None:
            params["info"] = msgspec.Raw(msgspec.json.encode(info))
        if data is not None:
            params["data"] = msgspec.Raw(msgspec.json.encode(data))
        if recover_since is not None:
            params["recover_since"] = {"offset": recover_since.offset, "epoch": recover_since.epoch}
        await self._call("subscribe", params)

    async def unsubscribe(self, user: str, channel: str, *, client: str = "", session: str = "") -> None:
        params = {"user": user, "channel": channel, "client": client, "session": session}
        await self._call("unsubscribe", params)

    async def disconnect(
        self,
        user: str,
        *,
        code: int = 0,
        reason: str = "",
        client: str = "",
        session: str = "",
        whitelist: Iterable[str] = (),
    ) -> None:
        """Disconnect ``user`` (all connections but ``whitelist``, or one ``client``).

        ``code`` 0 uses Centrifugo's default (3503 force disconnect); 4000-4499
        make the client reconnect, 4500-4999 do not.
        """
        params: dict[str, Any] = {"user": user, "client": client, "session": session}
        if code:
            params["disconnect"] = {"code": code, "reason": reason}
        if whitelist:
            params["whitelist"] = list(whitelist)
        await self._call("disconnect", params)

    async def refresh(
        self,
        user: str,
        *,
        expire_at: int = 0,
        expired: bool = False,
        info: Any = None,
        client: str = "",
        session: str = "",
    ) -> None:
        """Extend (``expire_at``, a Unix time) or end (``expired``) a user's connections."""
        params: dict[str, Any] = {"user": user, "client": client, "session": session, "expired": expired}
        if expire_at:
            params["expire_at"] = expire_at
        if info is not None:
            params["info"] = msgspec.Raw(msgspec.json.encode(info))
        await self._call("refresh", params)


#: A channel without history: every publication's result is this one (results are frozen).
_NO_POSITION = Published()


def _published(reply: dict[str, Any]) -> Published:
    if not reply:
        return _NO_POSITION
    return Published(offset=reply.get("offset", 0), epoch=reply.get("epoch", ""))


def _payload(
    data: Any, tags: Mapping[str, str] | None, key: str | None, delta: bool, skip_history: bool
) -> dict[str, Any]:
    # Encoding here, in the caller, makes a non-JSON value fail at its own call.
    params: dict[str, Any] = {
        "data": msgspec.Raw(msgspec.json.encode(data)),
        # 128 random bits, as in a uuid4 (os.urandom is 4x cheaper than uuid.uuid4().hex).
        "idempotency_key": key or os.urandom(16).hex(),
    }
    if tags or delta or skip_history:  # the usual publish sets none: no extra dict on the hot path
        params.update(_options(tags, delta, skip_history))
    return params


def _options(tags: Mapping[str, str] | None, delta: bool, skip_history: bool) -> dict[str, Any]:
    """A publish's optional fields, only those set (Centrifugo's defaults stand for the rest)."""
    options: dict[str, Any] = {}
    if tags:
        options["tags"] = dict(tags)
    if delta:
        options["delta"] = True
    if skip_history:
        options["skip_history"] = True
    return options
