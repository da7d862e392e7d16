"""The gRPC transport: the ``CentrifugoProxy`` service, one generic method handler per kind.

Requests arrive as raw bytes and are decoded here, so a malformed call gets
INVALID_ARGUMENT with a message naming the problem instead of a bare INTERNAL.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from hub.centrifugo import GRPC_SERVICE, KINDS, DecodeError, Kind
from hub.centrifugo.codec import decode_pb, encode_pb

from .dispatch import Dispatcher
from .errors import CallFailed, Overloaded, Unauthenticated

log = logging.getLogger(__name__)
Method = Callable[[bytes, grpc.aio.ServicerContext[bytes, Message]], Awaitable[Message]]


def proxy_service(dispatcher: Dispatcher) -> grpc.GenericRpcHandler:
    """The generic handler of Centrifugo's proxy service, for ``server.add_generic_rpc_handlers``."""
    return grpc.method_handlers_generic_handler(
        GRPC_SERVICE,
        {
            kind.grpc_method: grpc.unary_unary_rpc_method_handler(
                _method(dispatcher, kind), response_serializer=kind.pb_response.SerializeToString
            )
            for kind in KINDS.values()
        },
    )


def _method(dispatcher: Dispatcher, kind: Kind) -> Method:
    header = dispatcher.settings.secret_header

    async def unary(body: bytes, context: grpc.aio.ServicerContext[bytes, Message]) -> Message:
        metadata = context.invocation_metadata() or ()
        pairs = [(k, v) for k, v in metadata if isinstance(v, str)]
        try:
            dispatcher.authorize([v for k, v in pairs if k == header])
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        try:
            call = decode_pb(kind, body, dispatcher.forwarded(pairs))
        except DecodeError as exc:
            dispatcher.malformed(kind.name, str(exc))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        status, problem = grpc.StatusCode.INTERNAL, f"{kind.name} reply could not be encoded"
        try:
            return encode_pb(kind, await dispatcher.call(kind, call), binary=call.binary)
        except Overloaded as exc:
            status, problem = grpc.StatusCode.UNAVAILABLE, str(exc)
        except CallFailed as exc:
            problem = str(exc)
        except Exception:
            # A fault of ours (a result protobuf cannot carry...): answered and logged once.
            log.exception("%s call: cannot encode the reply", kind.name)
        await context.abort(status, problem)

    return unary
