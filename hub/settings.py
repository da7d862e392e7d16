"""hub.yaml: one settings tree, read and validated once, handed down as typed sections.

    settings = load("hub.yaml")          # raises ConfigError naming file, key, expectation
    settings.proxy.http_port             # 9000

Every problem of a file is reported at once, one line each (``file: key: problem``),
an unknown key with the nearest known one. Values may name environment variables,
as RoadRunner's config does: ``secret: ${PROXY_SECRET}``, ``port: ${PORT:-9000}``
(a value that is only ``${...}`` is read as YAML, so a port stays a number). Secrets
can come from the environment instead of the file (the environment wins): HUB_PROXY_SECRET, HUB_API_KEY,
HUB_TOKEN_SECRET, HUB_REDIS_URL. Relative paths (``app_dir``,
``centrifugo.token_private_key``) are relative to the file's folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from hub.centrifugo import CentrifugoSettings, ProxySettings, TokenKeyError, load_private_key
from hub.clients import PublisherSettings

from ._validation import problems
from .errors import ConfigError
from .jobs.settings import JobsSettings
from .pool.settings import PoolSettings

#: Environment variables that override a key of the file (dotted path).
ENV_OVERRIDES = {
    "HUB_PROXY_SECRET": "proxy.secret",
    "HUB_API_KEY": "centrifugo.api_key",
    "HUB_TOKEN_SECRET": "centrifugo.token_secret",
    "HUB_REDIS_URL": "centrifugo.redis_url",
}
_REQUIRED_SECRETS = ("proxy.secret", "centrifugo.api_key", "centrifugo.token_secret")


class OpsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ops listener (hub.yaml ``ops:``): ``/metrics``, ``/health``, ``/ready``."""

    host: str = "127.0.0.1"
    #: 0 (the default) turns the ops listener off.
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0


class WebSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The application's own web side (hub.yaml ``web:``): an ASGI app served by the workers (docs/web.md)."""

    #: The ASGI app, as ``module:attribute`` (e.g. ``demo.web:web``), imported from ``app_dir``.
    app: str = ""
    host: str = "127.0.0.1"
    #: 0 (the default) turns the web listener off; a port needs ``app``.
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole of hub.yaml."""

    #: The application, as ``module:attribute`` (e.g. ``demo.app:app``).
    app: str
    #: Where ``app`` is imported from, relative to hub.yaml's folder (once loaded: absolute).
    app_dir: str = "."
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: ``json``: one JSON object per line (for log collectors), with the ids of each record.
    log_format: Literal["text", "json"] = "text"
    proxy: ProxySettings = ProxySettings()
    centrifugo: CentrifugoSettings = CentrifugoSettings()
    publisher: PublisherSettings = PublisherSettings()
    pool: PoolSettings = PoolSettings()
    ops: OpsSettings = OpsSettings()
    web: WebSettings = WebSettings()
    jobs: JobsSettings = JobsSettings()


def load(
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read and validate a config file; its problems, all at once, raise :class:`ConfigError`.

    ``overrides`` maps dotted keys to values (``{"pool.workers": 2}``), as ``hub serve -o``
    gives them; they win over the file and the environment.
    """
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the config file: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{file}: {where}not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping of settings at the top, got {type(data).__name__}")
    env = os.environ if environ is None else environ
    unset: list[str] = []
    data = _expand(data, env, "", unset)
    for var, dotted in ENV_OVERRIDES.items():
        if env.get(var):
            _set(data, dotted, env[var])
    for dotted, value in (overrides or {}).items():
        _set(data, dotted, value)
    _resolve_paths(data, file)
    found = unset + problems(data, Settings) + _missing_secrets(data)
    settings = None if found else msgspec.convert(data, Settings)
    if settings is not None:
        found += _check(settings)
    if found or settings is None:
        raise ConfigError("\n".join(f"{file}: {p}" for p in dict.fromkeys(found)))
    return settings


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def _expand(value: Any, env: Mapping[str, str], where: str, unset: list[str]) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in every string of the tree, from ``env``."""
    if isinstance(value, dict):
        return {k: _expand(v, env, f"{where}.{k}" if where else str(k), unset) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, f"{where}[{i}]", unset) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        unset.append(f"{where}: ${{{name}}} is not set in the environment (and has no `:-default`)")
        return ""

    whole = _VARIABLE.fullmatch(value)
    expanded = _VARIABLE.sub(one, value)
    if whole is not None and expanded:
        try:  # `port: ${PORT}` stays a number, `enabled: ${FLAG:-true}` a boolean
            parsed = yaml.safe_load(expanded)
        except yaml.YAMLError:
            return expanded
        return parsed if isinstance(parsed, str | int | float | bool) else expanded
    return expanded


def _missing_secrets(data: dict[str, Any]) -> list[str]:
    found = []
    for dotted in _REQUIRED_SECRETS:
        section, key = dotted.split(".")
        values = data.get(section)
        if not (isinstance(values, dict) and values.get(key)):
            var = next(v for v, d in ENV_OVERRIDES.items() if d == dotted)
            found.append(f"{dotted}: expected a non-empty secret (or set {var})")
    return found


def _check(s: Settings) -> list[str]:
    """Problems across keys, once every key has the right type."""
    found = []
    if ":" not in s.app:
        found.append(f"app: expected `module:attribute`, got {s.app!r}")
    found += _web_problems(s)
    if s.proxy.secret_header in s.proxy.forward_headers:
        found.append(
            f"proxy.forward_headers: must not contain the secret header "
            f"{s.proxy.secret_header!r} (a client could then send the secret itself)"
        )
    problem = s.pool.problem(s.proxy.call_timeout)
    if problem:
        found.append(problem)
    problem = s.jobs.problem()
    if problem:
        found.append(problem)
    found += s.centrifugo.problems()
    exec_limit = s.pool.exec_limit(s.proxy.call_timeout)
    for name, pipeline in s.jobs.pipelines.items():
        if pipeline.claim_timeout <= exec_limit:
            found.append(
                f"jobs.pipelines.{name}.claim_timeout: expected more than the exec timeout "
                f"({exec_limit}s), got {pipeline.claim_timeout}s (a running job would be claimed again)"
            )
    if s.proxy.transport == "grpc" and not s.proxy.grpc_port:
        found.append("proxy.grpc_port: expected a port when proxy.transport is grpc")
    if s.publisher.transport == "grpc" and not s.centrifugo.grpc_api_port:
        found.append("centrifugo.grpc_api_port: expected a port (> 0) when publisher.transport is grpc")
    if s.publisher.api_url and not s.publisher.api_url.startswith(("http://", "https://")):
        found.append(f"publisher.api_url: expected an http:// or https:// URL, got {s.publisher.api_url!r}")
    if s.centrifugo.token_private_key:
        try:
            load_private_key(s.centrifugo.token_private_key)
        except TokenKeyError as exc:
            found.append(f"centrifugo.token_private_key: {exc}")
    return found


def _web_problems(s: Settings) -> list[str]:
    w = s.web
    if w.app and ":" not in w.app:
        return [f"web.app: expected `module:attribute` of an ASGI app (e.g. `demo.web:web`), got {w.app!r}"]
    if w.port and not w.app:
        return [f"web.app: expected `module:attribute` of an ASGI app, since web.port is {w.port}"]
    p = s.proxy
    taken = {"proxy.http_port": p.http_port, "proxy.grpc_port": p.grpc_port, "ops.port": s.ops.port}
    for key, port in taken.items():
        if w.port and port == w.port:
            # The proxy's listener checks the proxy secret and stays private; the web side is public.
            return [f"web.port: expected a port of its own, got {w.port}, which {key} uses"]
    return []


#: HS256 wants a key at least as long as its hash (RFC 7518 §3.2): 32 bytes.
MIN_TOKEN_SECRET_BYTES = 32


def weaknesses(settings: Settings) -> list[str]:
    """Problems that do not stop the hub but should not reach production (``hub check`` refuses them).

    >>> weaknesses(settings)
    ['centrifugo.token_secret: 5 bytes; expected at least 32 for HS256 ...']
    """
    found = []
    size = len(settings.centrifugo.token_secret.encode())
    if size < MIN_TOKEN_SECRET_BYTES:
        found.append(
            f"centrifugo.token_secret: {size} bytes; expected at least {MIN_TOKEN_SECRET_BYTES} for "
            "HS256 (anyone who guesses it can mint tokens); make one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return found


def _resolve_paths(data: dict[str, Any], file: Path) -> None:
    """Relative paths in the file (``app_dir``, a key file) are relative to its folder, not the cwd."""
    folder = file.resolve().parent
    app_dir = data.get("app_dir", ".")
    if isinstance(app_dir, str):
        data["app_dir"] = str((folder / app_dir).resolve())
    section = data.get("centrifugo")
    if not isinstance(section, dict):
        return
    key = section.get("token_private_key")
    if isinstance(key, str) and key and not Path(key).is_absolute():
        section["token_private_key"] = str(folder / key)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, key = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {}) if isinstance(data.get(part, {}), dict) else {}
    data[key] = value
