"""A per-user rate limit that holds across the pool's worker processes.

Module-level state lives once per worker process: a dict of counters in a handler
would let a user send ``limit`` messages to *each* worker. So the counts live in a
small SQLite file that every worker opens (one machine; several hub instances would
share Redis instead). ``BEGIN IMMEDIATE`` makes check-and-count one step across processes.

    limit = RateLimit(path, limit=5, window=10)
    wait = limit.hit("alice")       # 0.0: allowed (and counted); else seconds until allowed
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


class RateLimit:
    """At most ``limit`` hits per key in any ``window`` seconds (a sliding log)."""

    def __init__(self, path: Path, *, limit: int, window: float) -> None:
        self.path = path
        self.limit = limit
        self.window = window
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._open() as db:
            db.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS hits_key ON hits (key, at)")

    def _open(self) -> sqlite3.Connection:
        # One short connection per call: handlers run in threads and in several processes.
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def hit(self, key: str, *, now: float | None = None) -> float:
        """Count a hit for ``key`` and return 0.0, or refuse it: the seconds until one is allowed."""
        now = time.time() if now is None else now
        db = self._open()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM hits WHERE at <= ?", (now - self.window,))
            times = [at for (at,) in db.execute("SELECT at FROM hits WHERE key = ? ORDER BY at", (key,))]
            if len(times) >= self.limit:
                db.execute("COMMIT")
                return times[len(times) - self.limit] + self.window - now
            db.execute("INSERT INTO hits (key, at) VALUES (?, ?)", (key, now))
            db.execute("COMMIT")
            return 0.0
        finally:
            db.close()
