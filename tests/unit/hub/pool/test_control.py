"""`hub workers` output and where the control socket lives (no socket is opened)."""

from __future__ import annotations

from pathlib import Path

from hub.pool.control import Inline, control_path, table
from hub.pool.messages import Status, WorkerRow


def test_control_socket_sits_next_to_the_config(tmp_path: Path) -> None:
    assert control_path(tmp_path / "hub.yaml") == tmp_path / ".hub.yaml.sock"


def test_a_long_config_path_gets_a_short_socket_in_the_temp_dir(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120) / "hub.yaml"
    path = control_path(deep)
    assert path.name.startswith("hub-")
    assert len(str(path)) < 100
    assert control_path(deep) == path


def test_table_has_one_row_per_worker_and_the_replacements() -> None:
    status = Status(
        mode="pool", size=2, replaced={"crash": 1, "max_memory": 2},
        workers=[
            WorkerRow(pid=11, state="ready", served=5, running=0, waiting=0, rss=50 * 2**20, age=3.0),
            WorkerRow(pid=12, state="working", served=7, running=2, waiting=1, rss=2**20, age=1.25),
        ],
    )  # fmt: skip
    lines = table(status).splitlines()
    assert lines[0].split() == ["PID", "STATE", "CALLS", "RUNNING", "WAITING", "MEMORY", "AGE"]
    assert lines[1].split() == ["11", "ready", "5", "0", "0", "50.0", "MiB", "3.0s"]
    assert lines[2].split()[:2] == ["12", "working"]
    assert lines[3] == "2 of 2 workers; replaced since start: crash 1, max_memory 2"


def test_inline_mode_says_so() -> None:
    assert "inline mode" in table(Inline().status())
