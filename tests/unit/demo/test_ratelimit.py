"""The demo's send limit holds across worker processes: its counts live in a shared file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from demo.ratelimit import RateLimit


def test_it_allows_up_to_the_limit_in_a_window(tmp_path: Path) -> None:
    limit = RateLimit(tmp_path / "rl.sqlite3", limit=3, window=10)
    assert [limit.hit("alice", now=100 + i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert limit.hit("alice", now=103) == 7.0  # the first hit leaves the window at 110
    assert limit.hit("bob", now=103) == 0.0  # per user
    assert limit.hit("alice", now=110.5) == 0.0


def test_two_limiters_on_one_file_share_the_counts(tmp_path: Path) -> None:
    """Two workers each have their own module state; only the file is shared."""
    path = tmp_path / "rl.sqlite3"
    worker_1, worker_2 = RateLimit(path, limit=2, window=60), RateLimit(path, limit=2, window=60)
    assert worker_1.hit("alice") == 0.0
    assert worker_2.hit("alice") == 0.0
    assert worker_1.hit("alice") > 0
    assert worker_2.hit("alice") > 0


def test_another_process_sees_the_counts(tmp_path: Path) -> None:
    path = tmp_path / "rl.sqlite3"
    code = (
        "import sys; from pathlib import Path; from demo.ratelimit import RateLimit; "
        "print(RateLimit(Path(sys.argv[1]), limit=2, window=60).hit('alice'))"
    )
    run = [sys.executable, "-c", code, str(path)]
    first = [subprocess.run(run, capture_output=True, text=True, check=True).stdout for _ in range(2)]
    assert first == ["0.0\n", "0.0\n"]
    assert RateLimit(path, limit=2, window=60).hit("alice") > 0
