"""Typed results of the server API, frozen values built from Centrifugo's replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamPosition:
    """A place in a channel's history: ``offset`` within the stream ``epoch``."""

    offset: int
    epoch: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """A publication accepted by Centrifugo.

    ``offset`` and ``epoch`` are set when the channel keeps history (else 0, "").
    """

    offset: int = 0
    epoch: str = ""

    @classmethod
    def of(cls, reply: dict[str, Any]) -> Published:
        return cls(offset=int(reply.get("offset", 0)), epoch=str(reply.get("epoch", "")))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientInfo:
    """One connection in a channel's presence (or the publisher of a publication)."""

    client: str
    user: str
    conn_info: Any = None
    chan_info: Any = None

    @classmethod
    def of(cls, reply: dict[str, Any]) -> ClientInfo:
        return cls(
            client=reply.get("client", ""),
            user=reply.get("user", ""),
            conn_info=reply.get("conn_info"),
            chan_info=reply.get("chan_info"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceStats:
    num_clients: int
    num_users: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Publication:
    """One publication from a channel's history."""

    data: Any
    offset: int
    tags: dict[str, str]
    info: ClientInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    """Publications (oldest first unless ``reverse``) and the stream's current position."""

    publications: tuple[Publication, ...]
    offset: int
    epoch: str

    @classmethod
    def of(cls, reply: dict[str, Any]) -> History:
        pubs = tuple(
            Publication(
                data=p.get("data"),
                offset=int(p.get("offset", 0)),
                tags=dict(p.get("tags") or {}),
                info=ClientInfo.of(p["info"]) if p.get("info") else None,
            )
            for p in reply.get("publications") or ()
        )
        return cls(publications=pubs, offset=int(reply.get("offset", 0)), epoch=reply.get("epoch", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One Centrifugo node, as ``info`` reports it."""

    uid: str
    name: str
    version: str
    num_clients: int
    num_users: int
    num_channels: int
    num_subs: int
    uptime: int

    @classmethod
    def of(cls, reply: dict[str, Any]) -> Node:
        return cls(
            uid=reply.get("uid", ""),
            name=reply.get("name", ""),
            version=reply.get("version", ""),
            num_clients=int(reply.get("num_clients", 0)),
            num_users=int(reply.get("num_users", 0)),
            num_channels=int(reply.get("num_channels", 0)),
            num_subs=int(reply.get("num_subs", 0)),
            uptime=int(reply.get("uptime", 0)),
        )
