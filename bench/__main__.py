"""`make bench`: run every benchmark side by side and write docs/benchmarks.md.

Each benchmark is a module ``bench/bench_<name>.py`` with ``main() -> str``
returning its Markdown section (figures, ratios, and what limits each).
``python -m bench proxy`` runs only ``bench_proxy``.
"""

from __future__ import annotations

import datetime
import importlib
import os
import pkgutil
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "benchmarks.md"


def main(names: list[str]) -> int:
    available = sorted(m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(ROOT / "bench")])
                       if m.name.startswith("bench_"))  # fmt: skip
    chosen = names or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    sections = {}
    for name in chosen:
        print(f"== bench {name}", file=sys.stderr, flush=True)
        sections[name] = importlib.import_module(f"bench.bench_{name}").main().strip()
    header = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); every comparison in a section ran side by side",
        "in one run on the same machine. Tests never assert on timings; these figures are the record.",
        "",
        f"- run: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}",
        f"- Python {platform.python_version()}",
        "",
    ]
    previous = _previous_sections()
    body = [sections.get(name) or previous.get(name, "") for name in available]
    OUTPUT.write_text("\n".join(header) + "\n" + "\n\n".join(s for s in body if s) + "\n")
    print(f"wrote {OUTPUT}", file=sys.stderr)
    return 0


def _previous_sections() -> dict[str, str]:
    """Sections of benchmarks not run this time are kept from the last file."""
    if not OUTPUT.exists():
        return {}
    sections: dict[str, str] = {}
    current: list[str] | None = None
    for line in OUTPUT.read_text().splitlines():
        if line.startswith("<!-- bench:"):
            current = []
            sections[line.removeprefix("<!-- bench:").removesuffix(" -->").strip()] = ""
            name = list(sections)[-1]
        if current is not None:
            current.append(line)
            sections[name] = "\n".join(current)
    return sections


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
