"""The contract with the Centrifugo server: wire types, codes, config rendering.

No sockets here: the proxy (inbound) and the clients (outbound) use these.
"""

from .binary import VERSION, find_binary
from .codes import DisconnectCode, ErrorCode
from .config import CentrifugoSettings, Namespace, ProxySettings, Usage, render
from .errors import BinaryNotFound, CentrifugoError, DecodeError, PayloadError, TokenKeyError
from .keys import TokenKey, load_private_key
from .kinds import GRPC_SERVICE, KINDS, Kind, kind_of
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
    "load_private_key",
    "render",
]
