"""Where the pinned Centrifugo binary is, and which version is pinned."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import BinaryNotFound

VERSION = (Path(__file__).resolve().parent / "VERSION").read_text().strip()
INSTALL_SCRIPT = Path(__file__).resolve().parent / "install.sh"


def find_binary() -> Path:
    """The Centrifugo to run: ``$CENTRIFUGO_BIN``, else ``.bin/centrifugo``, else PATH.

    ``.bin/`` is looked up in the current directory and then in the source
    checkout this package was installed from.
    """
    named = os.environ.get("CENTRIFUGO_BIN")
    if named:
        path = Path(named)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BinaryNotFound(f"CENTRIFUGO_BIN={named} is not an executable file")
    for root in (Path.cwd(), INSTALL_SCRIPT.parent.parent):
        candidate = root / ".bin" / "centrifugo"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("centrifugo")
    if found:
        return Path(found)
    raise BinaryNotFound(
        f"Centrifugo v{VERSION} not found: run `make centrifugo` (builds it with Go into "
        f".bin/centrifugo) or set CENTRIFUGO_BIN to a centrifugo v{VERSION} binary"
    )
