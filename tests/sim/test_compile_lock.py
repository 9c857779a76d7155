"""sim/_compile_lock.py: a process that needs a kernel another process is compiling waits for
it and loads it from numba's cache instead of compiling it a second time."""

from __future__ import annotations

import fcntl
import importlib
import subprocess
import sys
import textwrap
import time

KERNEL = "import numba as nb\n\n@nb.njit(cache=True)\ndef twice(x):\n    return 2 * x\n"

RUN = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import kern
    from spikemesh.sim import _compile_lock
    print(_compile_lock.call(kern.twice, 21))
    s = kern.twice.stats
    print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))
    """
)


def test_a_second_process_waits_and_loads_the_first_ones_compile(tmp_path):
    (tmp_path / "kern.py").write_text(KERNEL)
    sys.path.insert(0, str(tmp_path))
    try:
        kern = importlib.import_module("kern")
        from spikemesh.sim import _compile_lock

        path = _compile_lock._lock_path(kern.twice)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # "another process" is compiling
            other = subprocess.Popen(
                [sys.executable, "-c", RUN, str(tmp_path)], stdout=subprocess.PIPE, text=True
            )
            time.sleep(3)
            waited = other.poll() is None
            assert kern.twice(1) == 2  # compiles and saves to the cache
        out, _ = other.communicate(timeout=60)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("kern", None)
    assert waited, "the second process did not wait for the lock"
    value, stats = out.split("\n")[:2]
    assert value == "42"
    assert stats.split() == ["1", "0"], "it compiled instead of loading from the cache"


def test_a_call_without_a_cache_directory_still_runs(tmp_path):
    """A kernel numba keeps no cache for (cache=False) is compiled without a lock."""
    import numba as nb
    from spikemesh.sim import _compile_lock

    @nb.njit
    def plus_one(x):
        return x + 1

    assert _compile_lock._lock_path(plus_one) is None
    assert _compile_lock.call(plus_one, 1) == 2
    assert _compile_lock.call(plus_one, 2.5) == 3.5  # a second signature
