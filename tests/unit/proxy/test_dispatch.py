"""The generic dispatch: the shared secret, outcome checks and per-call metrics."""

from __future__ import annotations

import pytest

from hub.centrifugo import (
    KINDS,
    Error,
    Outcome,
    ProxySettings,
    Request,
    RPCRequest,
    RPCResult,
    SubscribeResult,
)
from hub.proxy import CallFailed, Dispatcher, Unauthenticated

SETTINGS = ProxySettings(secret="s3cret", forward_headers=["x-device"])


class Answer:
    def __init__(self, value: object) -> None:
        self.value = value

    async def handle(self, request: Request) -> Outcome:
        if isinstance(self.value, Exception):
            raise self.value
        return self.value  # type: ignore[return-value]


@pytest.mark.parametrize("values", [[], ["wrong"], ["s3cret", "s3cret"], ["s3cre"]])
def test_the_secret_must_come_exactly_once_and_match(values: list[str]) -> None:
    dispatcher = Dispatcher(Answer(None), SETTINGS)
    with pytest.raises(Unauthenticated, match="x-hub-proxy-secret"):
        dispatcher.authorize(values)
    assert dispatcher.stats.refused == 1


def test_only_configured_headers_are_forwarded() -> None:
    dispatcher = Dispatcher(Answer(None), SETTINGS)
    assert dispatcher.forwarded([("x-device", "a"), ("cookie", "c"), ("x-hub-proxy-secret", "s")]) == {
        "x-device": "a"
    }


async def test_outcomes_are_counted_by_kind() -> None:
    rpc = KINDS["rpc"]
    ok = Dispatcher(Answer(RPCResult(data=1)), SETTINGS)
    assert await ok.call(rpc, RPCRequest(method="m")) == RPCResult(data=1)
    refused = Dispatcher(Answer(Error(code=403)), SETTINGS)
    assert await refused.call(rpc, RPCRequest(method="m")) == Error(code=403)
    assert ok.stats.kinds["rpc"].outcomes == {"ok": 1, "refused": 0, "failed": 0}
    assert refused.stats.kinds["rpc"].outcomes == {"ok": 0, "refused": 1, "failed": 0}
    total = ok.stats.merged(refused.stats)
    assert total.kinds["rpc"].outcomes == {"ok": 1, "refused": 1, "failed": 0}
    assert sum(total.kinds["rpc"].buckets) == 2


async def test_a_raising_handler_becomes_call_failed() -> None:
    dispatcher = Dispatcher(Answer(ValueError("bug")), SETTINGS)
    with pytest.raises(CallFailed, match="rpc handler raised ValueError"):
        await dispatcher.call(KINDS["rpc"], RPCRequest(method="m"))
    assert dispatcher.stats.kinds["rpc"].outcomes["failed"] == 1


async def test_a_result_of_the_wrong_kind_becomes_call_failed() -> None:
    dispatcher = Dispatcher(Answer(SubscribeResult()), SETTINGS)
    with pytest.raises(CallFailed, match="rpc handler returned SubscribeResult, expected RPCResult"):
        await dispatcher.call(KINDS["rpc"], RPCRequest(method="m"))


async def test_a_payload_the_handler_cannot_read_is_refused_with_107_not_failed() -> None:
    from hub.centrifugo import PayloadError

    dispatcher = Dispatcher(Answer(PayloadError("data is not valid JSON: truncated")), SETTINGS)
    outcome = await dispatcher.call(KINDS["rpc"], RPCRequest(method="m"))
    assert outcome == Error(code=107, message="bad request: data is not valid JSON: truncated")
    assert dispatcher.stats.kinds["rpc"].outcomes == {"ok": 0, "refused": 1, "failed": 0}
