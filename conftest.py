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
