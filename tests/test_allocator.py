"""The allocator settings a run makes (glibc only)."""

from __future__ import annotations

import platform

import numpy as np
import psutil
import pytest

from growthmap.runner.memory import release_free_memory, tune_allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's")
def test_freed_arrays_go_back_to_the_system():
    assert tune_allocator() and tune_allocator()  # set, and idempotent
    proc = psutil.Process()
    before = proc.memory_info().rss
    # many mid-sized arrays (below glibc's default ceiling of 32 MB for its own mappings)
    arrays = [np.ones(1 << 20) for _ in range(64)]  # 64 x 8 MB
    assert proc.memory_info().rss - before > 400 << 20
    del arrays
    release_free_memory()
    assert proc.memory_info().rss - before < 100 << 20
