"""The hub: a real-time pub/sub hub for Python applications, built on Centrifugo.

from hub import App, ConnectResult, Error

app = App()

@app.on_connect
async def connect(request):
    return ConnectResult(user="42")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.centrifugo import (
        ConnectRequest,
        ConnectResult,
        Disconnect,
        DisconnectCode,
        Error,
        ErrorCode,
        Override,
        PublishRequest,
        PublishResult,
        RefreshRequest,
        RefreshResult,
        RPCRequest,
        RPCResult,
        SubRefreshRequest,
        SubRefreshResult,
        SubscribeOptions,
        SubscribeRequest,
        SubscribeResult,
    )

    from .app import App
    from .errors import AppImportError, ConfigError, HubError
    from .settings import Settings, load

#: Where each export lives; loaded on first use (PEP 562), so `import hub.centrifugo.codes`
#: or `hub workers` does not pay for the app runtime, aiohttp, grpc and yaml.
_EXPORTS = {
    "App": ".app",
    "AppImportError": ".errors",
    "ConfigError": ".errors",
    "ConnectRequest": "hub.centrifugo",
    "ConnectResult": "hub.centrifugo",
    "Disconnect": "hub.centrifugo",
    "DisconnectCode": "hub.centrifugo",
    "Error": "hub.centrifugo",
    "ErrorCode": "hub.centrifugo",
    "HubError": ".errors",
    "Override": "hub.centrifugo",
    "PublishRequest": "hub.centrifugo",
    "PublishResult": "hub.centrifugo",
    "RPCRequest": "hub.centrifugo",
    "RPCResult": "hub.centrifugo",
    "RefreshRequest": "hub.centrifugo",
    "RefreshResult": "hub.centrifugo",
    "Settings": ".settings",
    "SubRefreshRequest": "hub.centrifugo",
    "SubRefreshResult": "hub.centrifugo",
    "SubscribeOptions": "hub.centrifugo",
    "SubscribeRequest": "hub.centrifugo",
    "SubscribeResult": "hub.centrifugo",
    "load": ".settings",
}

__all__ = [
    "App",
    "AppImportError",
    "ConfigError",
    "ConnectRequest",
    "ConnectResult",
    "Disconnect",
    "DisconnectCode",
    "Error",
    "ErrorCode",
    "HubError",
    "Override",
    "PublishRequest",
    "PublishResult",
    "RPCRequest",
    "RPCResult",
    "RefreshRequest",
    "RefreshResult",
    "Settings",
    "SubRefreshRequest",
    "SubRefreshResult",
    "SubscribeOptions",
    "SubscribeRequest",
    "SubscribeResult",
    "load",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    return value
