"""The contract with the Centrifugo server: wire types, codes, config rendering.

No sockets here: the proxy (inbound) and the clients (outbound) use these.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .binary import VERSION, find_binary
    from .codes import DisconnectCode, ErrorCode
    from .config import CentrifugoSettings, Namespace, ProxySettings, Usage, render
    from .errors import BinaryNotFound, CentrifugoError, DecodeError, PayloadError, TokenKeyError
    from .keys import TokenKey, load_private_key
    from .kinds import GRPC_SERVICE, KINDS, Kind, Route, kind_of, kinds_routed
    from .messages import (
        ConnectRequest,
        ConnectResult,
        Disconnect,
        Error,
        Outcome,
        Override,
        PublishRequest,
        PublishResult,
        RefreshRequest,
        RefreshResult,
        Request,
        Result,
        RPCRequest,
        RPCResult,
        SubRefreshRequest,
        SubRefreshResult,
        SubscribeOptions,
        SubscribeRequest,
        SubscribeResult,
    )

#: Where each export lives, loaded on first use (PEP 562): importing one module of the
#: package does not load the rest.
_EXPORTS = {
    "BinaryNotFound": ".errors",
    "CentrifugoError": ".errors",
    "CentrifugoSettings": ".config",
    "ConnectRequest": ".messages",
    "ConnectResult": ".messages",
    "DecodeError": ".errors",
    "Disconnect": ".messages",
    "DisconnectCode": ".codes",
    "Error": ".messages",
    "ErrorCode": ".codes",
    "GRPC_SERVICE": ".kinds",
    "KINDS": ".kinds",
    "Kind": ".kinds",
    "Route": ".kinds",
    "Namespace": ".config",
    "Outcome": ".messages",
    "Override": ".messages",
    "PayloadError": ".errors",
    "ProxySettings": ".config",
    "PublishRequest": ".messages",
    "PublishResult": ".messages",
    "RPCRequest": ".messages",
    "RPCResult": ".messages",
    "RefreshRequest": ".messages",
    "RefreshResult": ".messages",
    "Request": ".messages",
    "Result": ".messages",
    "SubRefreshRequest": ".messages",
    "SubRefreshResult": ".messages",
    "SubscribeOptions": ".messages",
    "SubscribeRequest": ".messages",
    "SubscribeResult": ".messages",
    "TokenKey": ".keys",
    "TokenKeyError": ".errors",
    "Usage": ".config",
    "VERSION": ".binary",
    "find_binary": ".binary",
    "kind_of": ".kinds",
    "kinds_routed": ".kinds",
    "load_private_key": ".keys",
    "render": ".config",
}

__all__ = [
    "GRPC_SERVICE",
    "KINDS",
    "VERSION",
    "BinaryNotFound",
    "CentrifugoError",
    "CentrifugoSettings",
    "ConnectRequest",
    "ConnectResult",
    "DecodeError",
    "Disconnect",
    "DisconnectCode",
    "Error",
    "ErrorCode",
    "Kind",
    "Namespace",
    "Outcome",
    "Override",
    "PayloadError",
    "ProxySettings",
    "PublishRequest",
    "PublishResult",
    "RPCRequest",
    "RPCResult",
    "RefreshRequest",
    "RefreshResult",
    "Request",
    "Result",
    "Route",
    "SubRefreshRequest",
    "SubRefreshResult",
    "SubscribeOptions",
    "SubscribeRequest",
    "SubscribeResult",
    "TokenKey",
    "TokenKeyError",
    "Usage",
    "find_binary",
    "kind_of",
    "kinds_routed",
    "load_private_key",
    "render",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    return value
