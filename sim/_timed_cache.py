"""Keep numba's on-disk cache of the compiled timed model consistent with its sources.

numba's ``cache=True`` checks only the stamp of the file that *defines* a function. The
cycle loop (``_timed_kernels.run_chip``) inlines the per-cycle helpers of
``_timed_core.py``, ``_timed_host.py`` and ``_timed_noc.py``, so a change in one of those
files alone (the reset mode of issue 14 changed only ``_timed_core.lif_enter_u5``) would
leave a machine's cached ``run_chip`` running the old rule, silently. :func:`flush_stale`
keys the caches on a digest of every ``_timed_*.py`` source and empties them all when it
changes; numba then compiles afresh once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

STAMP = "spikemesh_timed_sources.sha256"


def _dispatchers(modules):
    seen = {}
    for m in modules:
        for v in vars(m).values():
            cache = getattr(v, "_cache", None)
            if cache is not None and hasattr(cache, "flush") and hasattr(cache, "_cache_path"):
                seen[id(v)] = v
    return list(seen.values())


def flush_stale(modules) -> bool:
    """Flush the numba caches of every jitted function of ``modules`` unless the stamp file
    next to them holds the digest of the modules' current sources; returns whether it
    flushed. A cache directory that cannot be written is left alone (numba then recompiles
    or uses its own fallback location)."""
    digest = hashlib.sha256()
    for m in sorted(modules, key=lambda m: m.__name__):
        digest.update(Path(m.__file__).read_bytes())
    want = digest.hexdigest()
    disps = _dispatchers(modules)
    paths = {Path(d._cache._cache_path) for d in disps}
    try:
        if all((p / STAMP).is_file() and (p / STAMP).read_text() == want for p in paths):
            return False
        for d in disps:
            d._cache.flush()
        for p in paths:
            (p / STAMP).write_text(want)
    except OSError:
        return False
    return True
