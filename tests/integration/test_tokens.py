"""Tokens minted by the hub against a real Centrifugo: HMAC, RSA and ECDSA keys.

Accepted when valid; an expired one gets connect error 109; a forged one
(signed with another key) gets disconnect 3500.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request

from hub.centrifugo import TokenKey, find_binary
from hub.clients import ClientError, RealtimeClient, ReplyError
from hub.proxy.listeners import HttpServer
from hub.settings import load
from hub.tokens import TokenMinter, token_routes

from .servers import HUB, ROOT, Stack, free_port, stack_config

APP = "tests.integration.publish_app:app"
SECRET = "integration-token-secret-32-bytes-long"
OTHER_SECRET = "someone-elses-secret-also-32-bytes!!"


def private_key_pem(kind: str) -> bytes:
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def forger(kind: str) -> TokenMinter:
    """Signs like the hub, but with a key Centrifugo does not know."""
    if kind == "hmac":
        return TokenMinter(secret=OTHER_SECRET)
    pem = private_key_pem(kind)
    algorithm, config_key = ("RS256", "rsa_public_key") if kind == "rsa" else ("ES256", "ecdsa_public_key")
    return TokenMinter(
        key=TokenKey(private_pem=pem, public_pem="", algorithm=algorithm, config_key=config_key)
    )


@pytest.fixture(scope="module", params=["hmac", "rsa", "ec"])
def centrifugo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"tokens-{request.param}")
    options: dict[str, object] = {"token_secret": SECRET, "namespaces": {"priv": {}}}
    if request.param != "hmac":
        (tmp / "tokens.pem").write_bytes(private_key_pem(request.param))
        options["token_private_key"] = "tokens.pem"  # relative to hub.yaml
    stack = Stack(tmp, stack_config(APP, "http", centrifugo=options))
    with stack.running(hub=False):
        yield stack


@pytest.fixture
def tokens(centrifugo: Stack) -> TokenMinter:
    return TokenMinter.from_settings(load(centrifugo.path).centrifugo)


@pytest.fixture
async def client(centrifugo: Stack) -> AsyncIterator[RealtimeClient]:
    async with RealtimeClient(centrifugo.ws_url) as raw:
        yield raw


def forger_like(tokens: TokenMinter) -> TokenMinter:
    return forger({"HS": "hmac", "RS": "rsa", "ES": "ec"}[tokens.algorithm[:2]])


async def test_a_minted_connection_token_is_accepted(tokens: TokenMinter, client: RealtimeClient) -> None:
    session = await client.connect(
        token=tokens.connection("ada", info={"name": "Ada"}, channels=["priv:ada"])
    )
    assert session["client"]
    assert "priv:ada" in session.get("subs", {})  # the server-side subscription from the claim


async def test_a_minted_subscription_token_opens_a_private_channel(
    tokens: TokenMinter, client: RealtimeClient
) -> None:
    await client.connect(token=tokens.connection("ada"))
    with pytest.raises(ReplyError) as refused:
        await client.subscribe("priv:room")
    assert refused.value.code == 103
    await client.subscribe("priv:room", token=tokens.subscription("ada", "priv:room"))


async def test_an_expired_token_gets_error_109(tokens: TokenMinter, client: RealtimeClient) -> None:
    with pytest.raises(ReplyError) as info:
        await client.connect(token=tokens.connection("ada", ttl=-60))
    assert info.value.code == 109


async def test_a_forged_token_gets_disconnect_3500(tokens: TokenMinter, client: RealtimeClient) -> None:
    with pytest.raises(ClientError):
        await client.connect(token=forger_like(tokens).connection("ada"))
    assert await client.wait_closed() == 3500


def test_hub_token_prints_a_token_centrifugo_accepts(centrifugo: Stack) -> None:
    result = subprocess.run(
        [str(HUB), "token", "-c", str(centrifugo.path), "ada", "--ttl", "60"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    token = result.stdout.strip()
    check = subprocess.run(
        [str(find_binary()), "checktoken", "-c", str(_rendered(centrifugo)), token],
        capture_output=True, text=True,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr + check.stdout
    assert "ada" in check.stdout + check.stderr


async def test_the_gettoken_endpoint_gives_tokens_to_known_users_only(
    tokens: TokenMinter, client: RealtimeClient
) -> None:
    def authenticate(request: Request) -> str | None:
        return request.headers.get("x-user")

    async def authorize(user: str, channel: str) -> bool:
        return channel == f"priv:{user}"

    app = Starlette(routes=token_routes(tokens, authenticate, authorize=authorize))
    port = free_port()
    async with HttpServer(app, "127.0.0.1", port), aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        async with http.post("/centrifugo/token") as anonymous:
            assert anonymous.status == 401
        async with http.post("/centrifugo/token", headers={"x-user": "ada"}) as response:
            assert response.status == 200
            token = (await response.json())["token"]
        body = {"channel": "priv:bob"}
        async with http.post(
            "/centrifugo/subscription-token", json=body, headers={"x-user": "ada"}
        ) as denied:
            assert denied.status == 403
        body = {"channel": "priv:ada"}
        async with http.post(
            "/centrifugo/subscription-token", json=body, headers={"x-user": "ada"}
        ) as allowed:
            assert allowed.status == 200
            sub_token = (await allowed.json())["token"]
    await client.connect(token=token)
    await client.subscribe("priv:ada", token=sub_token)


def _rendered(centrifugo: Stack) -> Path:
    path = centrifugo.tmp / "centrifugo.json"
    config = subprocess.run(
        [str(HUB), "centrifugo", "config", "-c", str(centrifugo.path)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    path.write_text(config.stdout)
    return path


def test_the_rendered_config_with_the_public_key_passes_checkconfig_strict(centrifugo: Stack) -> None:
    result = subprocess.run(
        [str(HUB), "check", "-c", str(centrifugo.path)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
