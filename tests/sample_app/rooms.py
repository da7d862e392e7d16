"""A sample application: members-only rooms with a message RPC.

Served by `hub serve -c tests/sample_app/hub.yaml --centrifugo`; tested by the
suite beside it, built only on hub.testing (see docs/testing.md).
"""

from __future__ import annotations

from hub import App, ConnectRequest, ConnectResult, Error, RPCRequest, SubscribeRequest

app = App()

#: Who may enter which room (a real app would ask its database).
MEMBERS = {"python": {"alice", "bob"}, "rust": {"carol"}}


@app.on_connect
async def connect(request: ConnectRequest) -> ConnectResult | Error:
    data = request.json()
    user = data.get("user") if isinstance(data, dict) else None
    return ConnectResult(user=user) if user else Error(code=401, message="who are you?")


@app.on_subscribe("room")
async def enter(request: SubscribeRequest) -> Error | None:
    room = request.channel.partition(":")[2]
    return None if request.user in MEMBERS.get(room, ()) else Error(code=403, message="members only")


@app.rpc("room.post")
async def post(request: RPCRequest) -> dict[str, object] | Error:
    message = request.json()
    room, text = message.get("room", ""), message.get("text", "")
    if request.user not in MEMBERS.get(room, ()):
        return Error(code=403, message="members only")
    result = await app.publish(f"room:{room}", {"from": request.user, "text": text})
    return {"offset": result.offset}
