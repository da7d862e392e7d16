"""Every problem of a settings tree at once, each naming its dotted key.

msgspec stops at the first mistake; a new hub.yaml would then need one run per
mistake. This walks the raw mapping against the struct types instead, key by
key, and suggests the nearest key for an unknown one::

    problems(data, Settings)
    # ["pool.wrokers: unknown key (did you mean `workers`?)", "proxy.http_port: expected `int`, got `str`"]
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

import msgspec
import msgspec.structs


def problems(data: dict[str, Any], struct: type[msgspec.Struct], prefix: str = "") -> list[str]:
    """What is wrong in ``data`` read as ``struct``: one readable line per problem."""
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
    found: list[str] = []
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        field = fields.get(key)
        if field is None:
            found.append(f"{where}: unknown key{suggestion(str(key), list(fields))}")
            continue
        found += _value_problems(value, field.type, where)
    for name, field in fields.items():
        if field.required and name not in data:
            found.append(f"{prefix + '.' if prefix else ''}{name}: missing (a required key)")
    if not found:
        try:
            msgspec.convert(data, struct)
        except msgspec.ValidationError as exc:  # a check across fields (__post_init__)
            found.append(readable(str(exc), prefix=prefix))
    return found


def suggestion(key: str, known: list[str]) -> str:
    """`` (did you mean `workers`?)`` for ``wrokers``, or ""."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _value_problems(value: Any, annotation: Any, where: str) -> list[str]:
    struct = _struct_of(annotation)
    if struct is not None and isinstance(value, dict):
        return problems(value, struct, where)
    if typing.get_origin(annotation) is dict and isinstance(value, dict):
        key_type, value_type = typing.get_args(annotation)
        struct = _struct_of(value_type)
        if struct is not None:
            found: list[str] = []
            for name, options in value.items():
                try:
                    msgspec.convert(name, key_type)
                except msgspec.ValidationError:
                    found.append(f"{where}.{name}: expected a name of 2+ letters, digits, '-', '_' or '.'")
                    continue
                found += problems(options or {}, struct, f"{where}.{name}")
            return found
    try:
        msgspec.convert(value, annotation)
    except msgspec.ValidationError as exc:
        choices = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()
        return [readable(str(exc), prefix=where, choices=choices)]
    return []


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    return None


def readable(message: str, prefix: str = "", choices: tuple[object, ...] = ()) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.proxy.port`" as "proxy.port: expected ..."."""
    match = re.fullmatch(r"(.*?)(?: - at `\$\.?(.*)`)?", message, flags=re.S)
    problem, where = match.groups() if match else (message, "")
    parts = [p for p in (prefix, where or "") if p]
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", problem)
    if unknown:
        parts.append(unknown.group(1))
        problem = "unknown key"
    elif problem.startswith("Invalid enum value") and choices:
        choices = tuple(sorted(choices, key=str))
        problem = f"expected one of {', '.join(map(repr, choices))}, got {problem.split(' ', 3)[3]}"
    else:
        problem = problem[0].lower() + problem[1:]
    where = ".".join(parts).replace(".[", "[")  # jobs.schedule[0].every, not jobs.schedule.[0]
    return f"{where}: {problem}" if where else problem
