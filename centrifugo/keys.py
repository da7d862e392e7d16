"""Asymmetric token keys: the private key the hub signs with, the public one Centrifugo checks.

key = load_private_key("keys/tokens.pem")   # RSA or EC, PEM, unencrypted
key.algorithm                               # "RS256", "ES256", ...
key.config_key, key.public_pem              # ("rsa_public_key", "-----BEGIN PUBLIC KEY-----...")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import TokenKeyError

_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenKey:
    """A private signing key and what Centrifugo needs to verify its tokens."""

    private_pem: bytes
    public_pem: str
    algorithm: str
    #: The ``client.token`` key of Centrifugo's config holding ``public_pem``.
    config_key: str


def load_private_key(path: str | Path) -> TokenKey:
    """Read an unencrypted PEM RSA (RS256) or EC P-256/384/521 (ES256/384/512) private key."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise TokenKeyError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TokenKeyError(f"{path} is not an unencrypted PEM private key ({exc})") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm, config_key = "RS256", "rsa_public_key"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGORITHMS:
        algorithm, config_key = _EC_ALGORITHMS[key.curve.name], "ecdsa_public_key"
    else:
        raise TokenKeyError(f"{path}: expected an RSA or EC (P-256, P-384, P-521) private key")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return TokenKey(private_pem=pem, public_pem=public.decode(), algorithm=algorithm, config_key=config_key)
