"""Repository-wide pytest configuration.

``-m slow`` or SPIKEMESH_LONG=1 selects the long randomized regressions;
without either they are skipped (they are documented in docs/testing.md).
"""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    long_selected = os.environ.get("SPIKEMESH_LONG", "") not in ("", "0") or "slow" in (
        config.getoption("-m") or ""
    )
    if long_selected:
        return
    skip = pytest.mark.skip(reason="long regression: run with SPIKEMESH_LONG=1 or -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    """With xdist workers, compile the numba kernels once, in a process of their own
    (sim/warm.py), instead of once in every worker; a worker that needs a kernel before it
    is ready waits for it (sim/_compile_lock.py). SPIKEMESH_WARM=0 turns this off."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    if os.environ.get("SPIKEMESH_WARM", "") == "0":
        return
    import subprocess
    import sys

    config._spikemesh_warm = subprocess.Popen(
        [sys.executable, "-m", "spikemesh.sim.warm"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def pytest_unconfigure(config):
    warm = getattr(config, "_spikemesh_warm", None)
    if warm is not None and warm.poll() is None:
        warm.kill()
        warm.wait()
