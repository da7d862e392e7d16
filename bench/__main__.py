"""`make bench`: run every scenario side by side and write docs/benchmarks.md.

Each scenario is a module ``bench/bench_<name>.py`` with ``main()`` returning a
:class:`~bench._e2e.Section` (or just its Markdown) and, optionally, ``plan()``
announcing its cases to the progress line. ``python -m bench rpc connect`` runs
only those; the sections of the others are kept from the last run, in
docs/benchmarks.md and bench/results.json alike. ``python -m bench --report``
measures nothing: it rewrites docs/benchmarks.md (and the plots) from
bench/results.json, for the scenarios whose module has ``report(results)``.

Writes docs/benchmarks.md, one PNG per scenario under docs/benchmarks/, and
bench/results.json (machine-readable: every figure, every case's CPU and load).
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ._e2e import PROGRESS, RUNS, Section, machine

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "bench" / "results.json"
#: The order of the sections; a scenario not listed comes after, by name.
ORDER = ["rpc", "connect", "reconnect", "publish", "fanout", "jobs", "speed", "proxy"]
#: Seconds planned for a scenario that does not announce its own cases.
DEFAULT_PLAN = {"proxy": 50.0, "publish": 45.0, "jobs": 150.0}


def main(names: list[str]) -> int:
    if names == ["--report"]:
        return rewrite()
    found = {m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(ROOT / "bench")])
             if m.name.startswith("bench_")}  # fmt: skip
    available = [n for n in ORDER if n in found] + sorted(found - set(ORDER))
    chosen = [n for n in available if n in names] if names else available
    unknown = sorted(set(names) - set(available))
    if unknown:
        print(f"unknown scenario(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    modules = {name: importlib.import_module(f"bench.bench_{name}") for name in chosen}
    for name, module in modules.items():
        if hasattr(module, "plan"):
            module.plan()
        else:
            PROGRESS.plan(1, DEFAULT_PLAN.get(name, 60.0))
    started = time.monotonic()
    results = _previous_results()
    sections: dict[str, str] = {}
    failed: list[str] = []
    for name, module in modules.items():
        if not hasattr(module, "plan"):
            PROGRESS.case(name, DEFAULT_PLAN.get(name, 60.0))
        t0 = time.monotonic()
        try:
            out = module.main()
        except Exception:  # one scenario's failure keeps the others' figures
            traceback.print_exc()
            print(f"scenario {name} failed: its section keeps the last run's figures", file=sys.stderr)
            failed.append(name)
            continue
        section = out if isinstance(out, Section) else Section(name, str(out), {})
        sections[name] = section.markdown.strip()
        results["scenarios"][name] = {
            "finished": _now(),
            "seconds": round(time.monotonic() - t0, 1),
            "loadavg_1min_at_end": os.getloadavg()[0],
            "runs": RUNS,
            **section.results,
        }
        # Written after every scenario: a later one that fails or is interrupted loses nothing.
        _write(results, sections, available, [n for n in chosen if n in sections], time.monotonic() - started)
    took = time.monotonic() - started
    print(f"wrote {OUTPUT.relative_to(ROOT)} and {RESULTS.relative_to(ROOT)} in {took / 60:.1f} min"
          + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def _write(results: dict[str, Any], sections: dict[str, str], available: list[str], ran: list[str],
           took: float) -> None:  # fmt: skip
    """bench/results.json and docs/benchmarks.md with the scenarios run so far."""
    results |= {"machine": machine(), "command": "make bench", "runs_per_figure": RUNS, "seconds": took,
                "scenarios_run": ran, "finished": _now()}  # fmt: skip
    RESULTS.write_text(json.dumps(results, indent=1, default=str) + "\n")
    previous = _previous_sections()
    body = [sections.get(name) or previous.get(name, "") for name in available]
    body += [text for name, text in previous.items() if name not in available]  # e.g. metrics_cost
    OUTPUT.write_text(_header(results, ran, took) + "\n\n".join(s for s in body if s) + "\n")


def rewrite() -> int:
    """docs/benchmarks.md from bench/results.json, measuring nothing."""
    results = _previous_results()
    previous = _previous_sections()
    sections = dict(previous)
    for name, data in results["scenarios"].items():
        module = importlib.import_module(f"bench.bench_{name}")
        if hasattr(module, "report"):
            # The section says how many runs each figure is the median of: those of its own run.
            runs = data.get("runs", RUNS)
            rounds = min(runs, getattr(module, "MAX_ROUNDS", runs))
            for constant, value in (("RUNS", runs), ("ROUNDS", rounds)):
                if hasattr(module, constant):
                    setattr(module, constant, value)
            sections[name] = module.report(data).markdown.strip()
    order = [n for n in ORDER if n in sections] + sorted(set(sections) - set(ORDER))
    took = results.get("seconds", 0.0)
    header = _header(results, results.get("scenarios_run", list(results["scenarios"])), took)
    OUTPUT.write_text(header + "\n\n".join(sections[n] for n in order if sections[n]) + "\n")
    print(f"wrote {OUTPUT.relative_to(ROOT)} from {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


def _now() -> str:
    return f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"


def _header(results: dict[str, Any], chosen: list[str], took: float) -> str:
    m = results["machine"]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `make bench` (`python -m bench`; `python -m bench rpc connect` reruns only those "
            "scenarios and keeps the other sections). Every comparison in a section ran side by side in one "
            "run on the same machine, and every ratio is computed within that run. Tests never assert on "
            "timings; these figures are the record. Machine-readable: `bench/results.json`.",
            "",
            f"- last run: {results.get('finished', _now())}, scenarios {', '.join(chosen)} "
            f"({took / 60:.1f} min); each scenario last ran at: "
            + ", ".join(f"{n} {v.get('finished', '?')}" for n, v in results["scenarios"].items()),
            f"- machine: {m['cores']} cores ({m['cpu']}), {m['arch']}, Linux {m['kernel']}, "
            f"Python {m['python']}; "
            "Centrifugo v6.9.1, the hub, the back ends and the load generator all share these cores, and so "
            "may other engineers' test runs: each row gives the 1-minute load average it ran under.",
            "- each figure is the median of several short runs, as each section says (runs per section: "
            + ", ".join(f"{n} {v.get('runs', 5)}" for n, v in results["scenarios"].items())
            + "; `BENCH_RUNS` changes it)",
            "",
            _summary(results["scenarios"]),
            "",
            "",
        ]
    )


def _summary(s: dict[str, Any]) -> str:
    """The issue's aims against this run's figures."""
    lines = ["## Against the aims", "", "| aim | measured | figures |", "|---|---:|---|"]
    with _tolerant():
        cases = s["rpc"]["cases"]
        limit = cases["Go no-op HTTP proxy (limit)"]
        pooled = {k: v for k, v in cases.items() if "pool" in k and k.startswith("hub")}
        best = max(pooled, key=lambda k: pooled[k]["saturated"]["rate"])
        rate = pooled[best]["saturated"]["rate"]
        lines.append(
            f"| RPC ≥ 0.7x the Go limit, pool kept | {rate / limit['saturated']['rate']:.2f}x "
            f"| {best}: {rate:,.0f} vs {limit['saturated']['rate']:,.0f} calls/s |"
        )
        default = next(k for k in cases if "default" in k)
        p99, lp99 = cases[default]["paced"]["p99_ms"], limit["paced"]["p99_ms"]
        lines.append(
            f"| p99 at half the hub's saturation ≤ 1.3x the limit's | {p99 / lp99:.2f}x "
            f"| {default} at {s['rpc']['rate']:,.0f}/s: {p99:.1f} ms vs {lp99:.1f} ms |"
        )
    with _tolerant():
        cases = s["connect"]["cases"]
        jwt = next(v for k, v in cases.items() if "limit" in k)["rate"]
        default = next(k for k in cases if "default" in k)
        lines.append(
            f"| connects ≥ 0.7x JWT only | {cases[default]['rate'] / jwt:.2f}x "
            f"| {default}: {cases[default]['rate']:,.0f} vs {jwt:,.0f} connections/s |"
        )
    with _tolerant():
        r = s["reconnect"]
        alone_case = "JWT only, no proxy call"
        hub_case = next(k for k in r["cases"] if k != alone_case)
        hub = r["cases"][hub_case]
        here = "" if r["clients"] == 20_000 else f" (here {r['clients']:,})"
        took = {
            k: f"{v['all_back_s']:.1f} s" if v["all_back_s"] else "not all back"
            for k, v in r["cases"].items()
        }
        back = (
            f"all back in {took[hub_case]} ({hub['back_after_up_s']:.1f} s after they were up)"
            if hub["all_back_s"]
            else f"{hub['reconnected']:,.0f} back, not all"
        )
        alone = r["cases"][alone_case]
        # The storm's shape is the (20,000 clients, Centrifugo restarted under them); how
        # fast they come back is the clients' backoff and Centrifugo's: the hub is compared with JWT.
        against = (
            f" ({hub['all_back_s'] / alone['all_back_s']:.2f}x JWT only's)"
            if hub["all_back_s"] and alone["all_back_s"]
            else ""
        )
        lines.append(
            f"| reconnect storm: 20,000 clients{here}, Centrifugo restarted under them: all back, none "
            "refused "
            f"| {took[hub_case]}{against} "
            f"| hub connect proxy, {r.get('nodes', 1)} Centrifugo node(s): {back}, "
            f"{hub['connect_failed']:.0f} connect calls rejected or failed; JWT only: {took[alone_case]} "
            f"({alone.get('back_after_up_s', 0):.1f} s after they were up) |"
        )
    with _tolerant():
        p = s["publish"]
        hub_name = p.get("hub_name", "hub publisher, HTTP")
        rate = p["rates"][hub_name]
        keyed = p.get("go_keys_rate")
        same = (
            f"; {rate / keyed:.2f}x the compiled publisher sending the same commands (an idempotency key "
            f"per publication, what makes the hub's retries safe): {keyed:,.0f}/s"
            if keyed
            else ""
        )
        no_keys = p.get("hub_no_keys_vs_go")
        # Like for like: the same commands on both sides (with idempotency keys; without).
        measured = (
            f"{rate / keyed:.2f}x with keys, {no_keys:.2f}x without"
            if keyed and no_keys
            else f"{p['hub_vs_go']:.2f}x"
        )
        without = f"; without keys (`idempotent=False`) {no_keys:.2f}x the keyless limit" if no_keys else ""
        lines.append(
            f"| publishes ≥ 0.8x the compiled publisher | {measured} "
            f"| {hub_name} {rate:,.0f} vs Go batch {p['go_best_rate']:,.0f}/s ({p['hub_vs_go']:.2f}x)"
            f"{same}{without} |"
        )
    with _tolerant():
        f = s["fanout"]["cases"]
        alone, hub = f["Centrifugo alone (Go publisher, JWT)"], f["hub publisher, hub connect proxy"]
        lines.append(
            f"| fan-out: the hub adds nothing over Centrifugo | p99 {hub['p99_ms'] / alone['p99_ms']:.2f}x "
            f"| p50 / p99 {hub['p50_ms']:.1f} / {hub['p99_ms']:.1f} ms vs {alone['p50_ms']:.1f} / "
            f"{alone['p99_ms']:.1f} ms |"
        )
    return "\n".join(lines)


class _tolerant:
    """A summary row whose scenario has not run yet is left out."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, *rest: object) -> bool:
        return et is not None and issubclass(et, KeyError | StopIteration | ValueError | TypeError)


def _previous_results() -> dict[str, Any]:
    if RESULTS.exists():
        previous: dict[str, Any] = json.loads(RESULTS.read_text())
        previous.setdefault("scenarios", {})
        return previous
    return {"scenarios": {}}


def _previous_sections() -> dict[str, str]:
    """Sections of scenarios not run this time are kept from the last file."""
    if not OUTPUT.exists():
        return {}
    sections: dict[str, str] = {}
    name: str | None = None
    for line in OUTPUT.read_text().splitlines():
        if line.startswith("<!-- bench:"):
            name = line.removeprefix("<!-- bench:").removesuffix(" -->").strip()
            sections[name] = ""
        if name is not None:
            sections[name] = f"{sections[name]}\n{line}" if sections[name] else line
    return {name: text.rstrip() for name, text in sections.items()}  # each partial run added blank lines


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
