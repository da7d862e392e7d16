"""The hub: a real-time pub/sub hub for Python applications, built on Centrifugo.

from hub import App, ConnectResult, Error

app = App()

@app.on_connect
async def connect(request):
    return ConnectResult(user="42")
"""

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
