"""Making freed memory go back to the operating system during a run.

A run allocates and frees gigabytes of numpy and pandas arrays at a million accounts,
from several threads (LightGBM, numba, DuckDB, the snapshot writer).  With glibc's
defaults that memory mostly stays in the process: the threshold above which an array
gets a mapping of its own (returned to the system when freed) rises with every large
array freed, up to 32 MB, so later arrays come from heaps that hold on to their free
pages, and each thread may get heaps of its own.  A million-account run then peaked at
5.9 GB although no stage needed more than about 4 GB at once.  Fixing the threshold at
128 KiB and the heaps at two brought the peak to 4.5 GB at the same speed.

Only glibc has these settings; elsewhere :func:`tune_allocator` does nothing.

DuckDB keeps blocks of the tables a stage scanned cached in its buffer pool, up to its
memory limit, after the stage has finished: memory the next stage (pandas frames,
models) could use.  :func:`release_engine_cache` evicts them between stages by lowering
the limit for a moment and restoring it.  The limit is shared by every connection of
the database, so this must only run while no other thread is inside a DuckDB query
(the run's snapshot writer checks that it is idle first).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import platform
from typing import Any

import duckdb

from growthmap.workspace import duckdb_memory_limit

__all__ = ["release_engine_cache", "release_free_memory", "tune_allocator"]

#: The limit set for a moment to evict DuckDB's cached blocks.
EVICT_LIMIT = "8MB"
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Arrays from this size get a mapping of their own, returned to the system when freed.
MMAP_THRESHOLD = 128 * 1024
#: Heaps malloc may create (glibc's default is 8 per core).
ARENA_MAX = 2

_done = False
_libc: ctypes.CDLL | None = None


def tune_allocator() -> bool:
    """Set glibc's malloc as the module doc says (once per process); ``True`` if set."""
    global _done
    if _done:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
        ok = bool(libc.mallopt(_M_ARENA_MAX, ARENA_MAX)) and ok
    except (OSError, AttributeError):
        return False
    global _libc
    _done, _libc = ok, libc
    return ok


def release_free_memory() -> None:
    """Hand the free pages of malloc's heaps back to the system (between stages: the
    next stage's peak then starts from what is really in use)."""
    if _libc is not None:
        _libc.malloc_trim(0)


def release_engine_cache(source: Any) -> bool:
    """Evict the cached blocks of ``source``'s DuckDB connection (a workspace); ``True``
    when the limit could be lowered (a source without one, e.g. Spark, is left alone).

    Blocks in use (pinned) cannot go: DuckDB then refuses the lower limit and keeps
    the old one, so nothing breaks.  The limit is restored as it was, in bytes.
    """
    con = getattr(source, "con", None)
    if not isinstance(con, duckdb.DuckDBPyConnection):
        return False
    try:
        (setting,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    except duckdb.Error:
        return False
    # the setting reads back rounded ("1.8 GiB"): a workspace's limit is set back exactly
    restore = duckdb_memory_limit() or setting
    try:
        con.execute(f"SET memory_limit = '{EVICT_LIMIT}'")
        ok = True
    except duckdb.Error:
        ok = False
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"SET memory_limit = '{restore}'")
    return ok
