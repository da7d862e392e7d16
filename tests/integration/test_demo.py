"""`make demo` (python -m demo): ready with one URL to open; Ctrl-C (or SIGTERM) stops everything cleanly."""

from __future__ import annotations

import re
import signal
import urllib.request
from pathlib import Path

import pytest

from .demo_run import READY, DemoRun
from .servers import http_ok


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_everything(tmp_path: Path, signum: int) -> None:
    demo = DemoRun(tmp_path)
    demo.start()
    try:
        lines = [line for line in demo.log_text().splitlines() if "demo |" in line]
        assert lines == [f"  {READY}{demo.url}   (Ctrl-C stops everything)"]
        assert re.search(r'<form method="post" action="/login', _get(demo.url))
        names = [" ".join(p.cmdline()[:3]) for p in demo.children]
        # The hub, its two pooled workers and Centrifugo.
        assert any("centrifugo" in name for name in names), names
        assert len(names) >= 4, names
        assert demo.interrupt(signum) == 0, demo.log_text()
        assert demo.leftovers() == []
        assert not http_ok(demo.url)
    finally:
        demo.stop()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())
