"""The server's hold on the workspace: a DuckDB connection open only while it is used.

DuckDB lets one process write a file, and a process holding it open - even idle -
keeps every other process out.  So the dashboard does not keep the workspace open:
the first request in flight opens a connection, every request in flight works on its
own cursor of it (so requests still run in parallel), and it is closed ``linger``
seconds (one by default) after the last one finished - opening a connection costs
tens of milliseconds, so a burst of requests shares one.  Between bursts the file is
free, and `growthmap run`, `load` and
`user ...` proceed; while one of those holds the file, a request waits up to
``web.lock_wait_seconds`` and then answers 503 (:class:`~growthmap.errors.WorkspaceBusy`)
with a message to try again.  Since every request reads the users table afresh,
removing a user or replacing a token takes effect on the next request.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from growthmap.workspace import CATALOG, connect, duckdb_memory_limit

__all__ = ["Lease"]


class Lease:
    """A connection shared by the requests in flight and closed when none is."""

    def __init__(self, path: str | Path, *, read_only: bool, wait: float, linger: float = 1.0,
                 setup: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.wait = wait
        self.linger = linger
        self.setup = setup
        self._con: duckdb.DuckDBPyConnection | None = None
        self._users = 0
        self._idle_since = 0.0  # when the last request ended (monotonic seconds)
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._use = ""  # "USE <catalog>" when the file is attached under a fixed name
        self.opened = 0  # how many times a connection was opened (for tests and logs)

    def _open(self) -> duckdb.DuckDBPyConnection:
        con = connect(self.path, read_only=self.read_only, wait=self.wait)
        try:
            con.execute("SET enable_progress_bar = false")  # a server has no terminal
            if limit := duckdb_memory_limit():
                con.execute("SET memory_limit = ?", [limit])
            if self.setup is not None:
                self.setup(con)
            # asked once per connection, not per request (see workspace.cursor)
            self._use = f"USE {CATALOG}" if con.execute(
                "SELECT 1 FROM duckdb_databases() WHERE database_name = ?",
                [CATALOG]).fetchone() else ""
        except BaseException:
            con.close()
            raise
        self.opened += 1
        return con

    @contextlib.contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the shared connection, opened if no request holds one."""
        with self._lock:
            if self._con is None:
                self._con = self._open()
            self._users += 1
            con, use = self._con, self._use
        try:
            cur = con.cursor()  # nothing runs on ``con`` itself: other threads use it
            if use:
                cur.execute(use)
            try:
                yield cur
            finally:
                cur.close()
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._con is not None:
                    self._idle_since = time.monotonic()
                    if self.linger <= 0:
                        self._close_locked()
                    elif self._timer is None:  # one closer at a time, not one per request
                        self._start_timer(self.linger)

    def _start_timer(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._close_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _close_if_idle(self) -> None:
        """Close once ``linger`` seconds passed since the last request ended; a request
        that ended meanwhile moves the moment on (the timer waits again, for the rest)."""
        with self._lock:
            self._timer = None
            if self._con is None or self._users > 0:
                return  # closed already, or a request in flight starts a timer when done
            rest = self._idle_since + self.linger - time.monotonic()
            if rest > 0:
                self._start_timer(rest)
            else:
                self._close_locked()

    def _close_locked(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def held(self) -> bool:
        """Whether the server holds the workspace open right now."""
        return self._con is not None

    def connection(self) -> duckdb.DuckDBPyConnection:
        """A separate connection the caller closes (in one process, DuckDB shares the
        open database between connections with the same settings)."""
        return connect(self.path, read_only=self.read_only, wait=self.wait)

    def close(self) -> None:
        """Close the connection now unless a request is using it."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._users == 0:
                self._close_locked()
