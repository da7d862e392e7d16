"""hub.yaml: one settings tree, read and validated once, handed down as typed sections.

    settings = load("hub.yaml")          # raises ConfigError naming file, key, expectation
    settings.proxy.http_port             # 9000

Secrets can come from the environment instead of the file (the environment
wins): HUB_PROXY_SECRET, HUB_API_KEY, HUB_TOKEN_SECRET, HUB_REDIS_URL.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import msgspec
import msgspec.inspect
import yaml

from hub.centrifugo import CentrifugoSettings, Namespace, ProxySettings, TokenKeyError, load_private_key
from hub.clients import PublisherSettings

from .errors import ConfigError
from .jobs.settings import JobsSettings, PipelineSettings
from .pool.settings import PoolSettings

#: Environment variables that override a key of the file (dotted path).
ENV_OVERRIDES = {
    "HUB_PROXY_SECRET": "proxy.secret",
    "HUB_API_KEY": "centrifugo.api_key",
    "HUB_TOKEN_SECRET": "centrifugo.token_secret",
    "HUB_REDIS_URL": "centrifugo.redis_url",
}
_REQUIRED_SECRETS = ("proxy.secret", "centrifugo.api_key", "centrifugo.token_secret")


class _Invalid(Exception):
    """A readable validation problem found before msgspec's own pass."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole of hub.yaml."""

    #: The application, as ``module:attribute`` (e.g. ``demo.app:app``).
    app: str
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    proxy: ProxySettings = ProxySettings()
    centrifugo: CentrifugoSettings = CentrifugoSettings()
    publisher: PublisherSettings = PublisherSettings()
    pool: PoolSettings = PoolSettings()
    jobs: JobsSettings = JobsSettings()


def load(path: str | os.PathLike[str], environ: dict[str, str] | None = None) -> Settings:
    """Read and validate a config file; every problem raises :class:`ConfigError`."""
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
    for var, dotted in ENV_OVERRIDES.items():
        if env.get(var):
            _set(data, dotted, env[var])
    _resolve_key_path(data, file)
    try:
        _check_namespaces(data)
        _check_pipelines(data)
        settings = msgspec.convert(data, Settings)
    except _Invalid as exc:
        raise ConfigError(f"{file}: {exc}") from exc
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{file}: {_readable(str(exc))}") from exc
    _check(file, settings)
    return settings


def _check(file: Path, s: Settings) -> None:
    for dotted in _REQUIRED_SECRETS:
        section, key = dotted.split(".")
        if not getattr(getattr(s, section), key):
            var = next(v for v, d in ENV_OVERRIDES.items() if d == dotted)
            raise ConfigError(f"{file}: {dotted}: expected a non-empty secret (or set {var})")
    if ":" not in s.app:
        raise ConfigError(f"{file}: app: expected `module:attribute`, got {s.app!r}")
    if s.proxy.secret_header in s.proxy.forward_headers:
        raise ConfigError(
            f"{file}: proxy.forward_headers: must not contain the secret header "
            f"{s.proxy.secret_header!r} (a client could then send the secret itself)"
        )
    problem = s.pool.problem(s.proxy.call_timeout)
    if problem:
        raise ConfigError(f"{file}: {problem}")
    problem = s.jobs.problem()
    if problem:
        raise ConfigError(f"{file}: {problem}")
    exec_limit = s.pool.exec_limit(s.proxy.call_timeout)
    for name, pipeline in s.jobs.pipelines.items():
        if pipeline.claim_timeout <= exec_limit:
            raise ConfigError(
                f"{file}: jobs.pipelines.{name}.claim_timeout: expected more than the exec timeout "
                f"({exec_limit}s), got {pipeline.claim_timeout}s (a running job would be claimed again)"
            )
    if s.proxy.transport == "grpc" and not s.proxy.grpc_port:
        raise ConfigError(f"{file}: proxy.grpc_port: expected a port when proxy.transport is grpc")
    if s.publisher.transport == "grpc" and not s.centrifugo.grpc_api_port:
        raise ConfigError(
            f"{file}: centrifugo.grpc_api_port: expected a port (> 0) when publisher.transport is grpc"
        )
    if s.centrifugo.token_private_key:
        try:
            load_private_key(s.centrifugo.token_private_key)
        except TokenKeyError as exc:
            raise ConfigError(f"{file}: centrifugo.token_private_key: {exc}") from exc


def _resolve_key_path(data: dict[str, Any], file: Path) -> None:
    """A relative key file is relative to the config file's folder, not the working directory."""
    section = data.get("centrifugo")
    if not isinstance(section, dict):
        return
    key = section.get("token_private_key")
    if isinstance(key, str) and key and not Path(key).is_absolute():
        section["token_private_key"] = str(file.resolve().parent / key)


def _check_namespaces(data: dict[str, Any]) -> None:
    """Validate namespaces one by one, so an error names the namespace, not `[...]`."""
    section = data.get("centrifugo")
    namespaces = section.get("namespaces") if isinstance(section, dict) else None
    if not isinstance(namespaces, dict):
        return
    for name, options in namespaces.items():
        where = f"centrifugo.namespaces.{name}"
        if not isinstance(name, str) or not re.fullmatch(r"[-a-zA-Z0-9_.]{2,}", name):
            raise _Invalid(f"{where}: expected a name of 2+ letters, digits, '-', '_' or '.'")
        try:
            msgspec.convert(options or {}, Namespace)
        except msgspec.ValidationError as exc:
            raise _Invalid(_readable(str(exc), prefix=where)) from exc


def _check_pipelines(data: dict[str, Any]) -> None:
    """Validate jobs pipelines one by one, so an error names the pipeline, not `[...]`."""
    section = data.get("jobs")
    pipelines = section.get("pipelines") if isinstance(section, dict) else None
    if not isinstance(pipelines, dict):
        return
    for name, options in pipelines.items():
        where = f"jobs.pipelines.{name}"
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise _Invalid(f"{where}: expected a name of letters, digits, '-', '_' or '.'")
        try:
            msgspec.convert(options or {}, PipelineSettings)
        except msgspec.ValidationError as exc:
            raise _Invalid(_readable(str(exc), prefix=where, root=PipelineSettings)) from exc
        pipelines[name] = options or {}


def _set(data: dict[str, Any], dotted: str, value: str) -> None:
    *parents, key = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {}) if isinstance(data.get(part, {}), dict) else {}
    data[key] = value


def _choices(dotted: str, root: type = Settings) -> tuple[object, ...]:
    """The allowed values of the Literal-typed setting at ``dotted``."""
    info: msgspec.inspect.Type = msgspec.inspect.type_info(root)
    for name in dotted.split("."):
        if isinstance(info, msgspec.inspect.StructType):
            info = next(f.type for f in info.fields if f.name == name)
        elif isinstance(info, msgspec.inspect.DictType):
            info = info.value_type
    return tuple(info.values) if isinstance(info, msgspec.inspect.LiteralType) else ()


def _readable(message: str, prefix: str = "", root: type = Settings) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.proxy.port`" as "proxy.port: expected ..."."""
    match = re.fullmatch(r"(.*?)(?: - at `\$\.?(.*)`)?", message, flags=re.S)
    problem, where = match.groups() if match else (message, "")
    parts = [p for p in (prefix, where or "") if p]
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", problem)
    if unknown:
        parts.append(unknown.group(1))
        problem = "unknown key"
    elif problem.startswith("Invalid enum value"):
        dotted = ".".join(parts) if root is Settings else (where or "")
        choices = _choices(dotted, root)
        problem = f"expected one of {', '.join(map(repr, choices))}, got {problem.split(' ', 3)[3]}"
    else:
        problem = problem[0].lower() + problem[1:]
    where = ".".join(parts)
    return f"{where}: {problem}" if where else problem
