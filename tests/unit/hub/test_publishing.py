"""Settings of the publisher and tokens, the app's publishing lifecycle: no sockets."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub import App, ConfigError, HubError, load
from hub.bulk import parse_line, publish_lines
from hub.centrifugo import render
from hub.clients import ApiError, ClosedError, Published, Publisher, PublisherSettings
from hub.testing import RecordingPublisher
from hub.tokens import TokenMinter

SECRET = "unit-test-token-secret-of-32-bytes!!"
BASE: dict[str, Any] = {
    "app": "tests.integration.publish_app:app",
    "proxy": {"secret": "s"},
    "centrifugo": {"api_key": "k", "token_secret": SECRET},
}


def write(tmp_path: Path, **sections: Any) -> Path:
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_publisher_section_defaults_and_values(tmp_path: Path) -> None:
    assert load(write(tmp_path)).publisher == PublisherSettings()
    settings = load(write(tmp_path, publisher={"batch_max_size": 50, "retry_timeout": 2.5}))
    assert (settings.publisher.batch_max_size, settings.publisher.retry_timeout) == (50, 2.5)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"transport": "grpc"},
            "centrifugo.grpc_api_port: expected a port (> 0) when publisher.transport is grpc",
        ),
        ({"transport": "udp"}, "publisher.transport: expected one of 'grpc', 'http', got 'udp'"),
        ({"batch_max_size": 0}, "publisher.batch_max_size: expected `int` >= 1"),
        ({"batch_size": 10}, "publisher.batch_size: unknown key"),
    ],
)
def test_publisher_config_errors_name_the_key(tmp_path: Path, section: dict[str, Any], message: str) -> None:
    path = write(tmp_path, publisher=section)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_a_bad_private_key_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text("not a key")
    path = write(tmp_path, centrifugo={"token_private_key": "key.pem"})
    with pytest.raises(
        ConfigError, match=r"centrifugo\.token_private_key: .*not an unencrypted PEM private key"
    ):
        load(path)


def test_hmac_tokens_carry_the_claims_centrifugo_reads() -> None:
    minter = TokenMinter(secret=SECRET)
    token = minter.connection("42", ttl=60, info={"n": "Ada"}, channels=["user:42"], meta={"plan": "pro"})
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "42"
    assert claims["info"] == {"n": "Ada"}
    assert claims["channels"] == ["user:42"]
    assert claims["meta"] == {"plan": "pro"}
    assert 55 <= claims["exp"] - time.time() <= 61
    sub = jwt.decode(minter.subscription("42", "room:1", ttl=60), SECRET, algorithms=["HS256"])
    assert (sub["sub"], sub["channel"]) == ("42", "room:1")


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_key_pair_tokens_verify_with_the_public_key_the_renderer_gives_centrifugo(
    tmp_path: Path, kind: str
) -> None:
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "key.pem").write_bytes(pem)
    settings = load(write(tmp_path, centrifugo={"token_private_key": "key.pem"}))
    config = render(settings.centrifugo, settings.proxy, App().usage())
    public = config["client"]["token"]["rsa_public_key" if kind == "rsa" else "ecdsa_public_key"]
    token = TokenMinter.from_settings(settings.centrifugo).connection("7")
    algorithm = "RS256" if kind == "rsa" else "ES256"
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert jwt.decode(token, public, algorithms=[algorithm])["sub"] == "7"


async def test_publish_outside_the_lifespan_says_how_to_fix_it() -> None:
    with pytest.raises(HubError, match=r"async with app\.lifespan\(settings\)"):
        await App().publish("news", {"x": 1})
    with pytest.raises(HubError, match="lifespan"):
        App().publish_sync("news", {"x": 1})


async def test_a_publisher_not_opened_refuses_calls() -> None:
    publisher = Publisher(PublisherSettings(), api_url="http://127.0.0.1:1/api", api_key="k")
    with pytest.raises(ClosedError):
        await publisher.publish("news", 1)


def test_bulk_lines_name_the_bad_line() -> None:
    assert parse_line(1, b'{"a": 1}\n') == {"a": 1}
    with pytest.raises(ValueError, match=r"^line 7: not valid JSON"):
        parse_line(7, b"{oops")


async def test_bulk_counts_bad_lines_as_failures(capsys: pytest.CaptureFixture[str]) -> None:
    class NoNetwork(Publisher):
        async def publish_many(self, items: Any, **options: Any) -> Any:
            return [Published() for _ in items]

    publisher = NoNetwork(PublisherSettings(), api_url="http://127.0.0.1:1/api", api_key="k")
    code = await publish_lines(publisher, "news", io.BytesIO(b'{"a": 1}\n\n[2]\nnot json\n'))
    err = capsys.readouterr().err
    assert code == 1
    assert "line 4: not valid JSON" in err
    assert "published 2 of 3 to news (1 failed)" in err


async def test_bulk_goes_a_chunk_at_a_time_and_names_each_failed_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    chunks: list[int] = []

    class Refuses(Publisher):
        async def publish_many(self, items: Any, **options: Any) -> Any:
            chunks.append(len(items))
            return [ApiError(102, "unknown channel") if d == "bad" else Published() for _, d in items]

    publisher = Refuses(PublisherSettings(), api_url="http://127.0.0.1:1/api", api_key="k")
    lines = [b"%d\n" % n for n in range(2500)]
    lines[1733] = b'"bad"\n'
    code = await publish_lines(publisher, "news", io.BytesIO(b"".join(lines)))
    err = capsys.readouterr().err
    assert code == 1
    assert chunks == [1000, 1000, 500]
    assert "line 1734: publish failed: " in err
    assert "published 2499 of 2500 to news (1 failed)" in err


async def test_the_recording_publisher_records_publish_many_pair_by_pair() -> None:
    app = App()
    with RecordingPublisher().installed(app) as published:
        results = await app.publish_many([("a", 1), ("b", 2), ("a", 3)])
    assert published.data("a") == [1, 3]
    assert published.channels() == ["a", "b"]
    assert [r.offset for r in results if isinstance(r, Published)] == [1, 2, 3]
