"""One compile of a numba kernel per machine, not one per process.

numba's ``cache=True`` saves a kernel's machine code for the next process, but two processes
that start at once (pytest's xdist workers, the ranks of an MPI run, two terminals) both
find the cache empty and both compile: the timed model's cycle loop takes ~45 s of CPU to
compile, the fast model's learning loop ~30 s. :func:`call` compiles (or loads) a kernel's
first signature in this process while holding a file lock next to numba's cache of it, so a
second process waits for the first one's compile and then loads it from the cache.

Only the compile is under the lock; the call itself runs outside it.
"""

from __future__ import annotations

import fcntl
from pathlib import Path


def _lock_path(disp) -> Path | None:
    cache = getattr(disp, "_cache", None)
    path = getattr(cache, "_cache_path", None)
    if path is None:
        return None
    return Path(path) / f"{disp.py_func.__module__}.{disp.py_func.__name__}.lock"


def compile_for(disp, args) -> None:
    """Compile (or load from numba's cache) ``disp`` for the types of ``args``, holding the
    machine-wide lock of ``disp`` when this process has not compiled those types yet."""
    sig = tuple(disp.typeof_pyval(a) for a in args)
    if sig in disp.overloads:
        return
    path = _lock_path(disp)
    try:
        if path is None:
            raise OSError
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path, "w")  # noqa: SIM115 (held across the compile below)
    except OSError:  # no writable cache directory: numba compiles as it would anyway
        disp.compile(sig)
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        disp.compile(sig)  # loads what another process compiled while this one waited


def call(disp, *args):
    """``disp(*args)``; the first call in this process compiles (or loads) under the
    machine-wide lock (:func:`compile_for`). Later calls go straight to numba's dispatch,
    which compiles any further signature by itself (sim/warm.py compiles the usual ones)."""
    if not disp.overloads:
        compile_for(disp, args)
    return disp(*args)
