"""The six proxy kinds, one table row each: adding a kind is adding a row.

Every transport and every layer (proxy, pool, app routing) looks a call up
here instead of carrying code per kind.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from google.protobuf.message import Message

from . import messages as m
from ._proto import proxy_pb2 as pb

#: The full name of the gRPC service Centrifugo calls (fixed by Centrifugo).
GRPC_SERVICE = "centrifugal.centrifugo.proxy.CentrifugoProxy"


class Route(enum.Enum):
    """How a call of a kind finds its handler, and where Centrifugo's config enables it."""

    #: One handler for the whole app (``client.proxy.<kind>``, with ``enabled``).
    SINGLE = "single"
    #: By the channel's namespace (``channel.proxy.<kind>`` + ``<kind>_proxy_enabled`` per namespace).
    CHANNEL = "channel"
    #: By the RPC method's name (``rpc.proxy`` + ``proxy_enabled`` per RPC namespace).
    METHOD = "method"


@dataclass(frozen=True, slots=True, kw_only=True)
class Kind:
    """One proxy kind: its name on the wire and the types that carry it."""

    name: str
    grpc_method: str
    request: type[m.Request]
    result: type[m.Result]
    pb_request: type[Message]
    pb_response: type[Message]
    pb_result: type[Message]
    route: Route = Route.SINGLE
    #: The call extends something that expires (a connection, a subscription): without a
    #: handler the answer is ``expired``, not a refusal.
    extends: bool = False

    @property
    def channel(self) -> bool:
        """Channel kinds are routed by the channel's namespace."""
        return self.route is Route.CHANNEL


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(name="connect", grpc_method="Connect", request=m.ConnectRequest,
             result=m.ConnectResult, pb_request=pb.ConnectRequest,
             pb_response=pb.ConnectResponse, pb_result=pb.ConnectResult),
        Kind(name="refresh", grpc_method="Refresh", request=m.RefreshRequest,
             result=m.RefreshResult, pb_request=pb.RefreshRequest,
             pb_response=pb.RefreshResponse, pb_result=pb.RefreshResult, extends=True),
        Kind(name="subscribe", grpc_method="Subscribe", request=m.SubscribeRequest,
             result=m.SubscribeResult, pb_request=pb.SubscribeRequest,
             pb_response=pb.SubscribeResponse, pb_result=pb.SubscribeResult, route=Route.CHANNEL),
        Kind(name="publish", grpc_method="Publish", request=m.PublishRequest,
             result=m.PublishResult, pb_request=pb.PublishRequest,
             pb_response=pb.PublishResponse, pb_result=pb.PublishResult, route=Route.CHANNEL),
        Kind(name="sub_refresh", grpc_method="SubRefresh", request=m.SubRefreshRequest,
             result=m.SubRefreshResult, pb_request=pb.SubRefreshRequest,
             pb_response=pb.SubRefreshResponse, pb_result=pb.SubRefreshResult,
             route=Route.CHANNEL, extends=True),
        Kind(name="rpc", grpc_method="RPC", request=m.RPCRequest, result=m.RPCResult,
             pb_request=pb.RPCRequest, pb_response=pb.RPCResponse, pb_result=pb.RPCResult,
             route=Route.METHOD),
    )
}  # fmt: skip


def kinds_routed(route: Route) -> list[Kind]:
    """The kinds of one route, in table order."""
    return [k for k in KINDS.values() if k.route is route]


def kind_of(request: m.Request) -> Kind:
    """The table row of a request value."""
    return KINDS[request.kind]
