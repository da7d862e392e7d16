"""Where a running service's private unix sockets live: beside its config file.

socket_path("hub.yaml")               # .hub.yaml.sock: the control socket (hub workers)
socket_path("hub.yaml", "jobs.sock")  # .hub.yaml.jobs.sock: the memory pipelines
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

#: Unix socket paths are limited to about 108 bytes; longer ones go to the temp directory.
_MAX_PATH = 100


def socket_path(config: str | os.PathLike[str], suffix: str = "sock") -> Path:
    """A private unix socket of the service for ``config``: ``.hub.yaml.<suffix>`` beside it,
    or in the temp directory when that path is too long for a unix socket."""
    file = Path(config).resolve()
    path = file.with_name(f".{file.name}.{suffix}")
    if len(str(path)) < _MAX_PATH:
        return path
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"hub-{digest}.{suffix}"
