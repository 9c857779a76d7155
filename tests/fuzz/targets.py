"""Every fuzz target (bench/run_fuzz.py and tests/fuzz/test_fuzz.py run these)."""

from __future__ import annotations

from . import (
    targets_cli,
    targets_compiler,
    targets_hostlink,
    targets_image,
    targets_network,
    targets_nir,
    targets_rtl_bridge,
)

TARGETS = [
    *targets_network.TARGETS,
    *targets_image.TARGETS,
    *targets_hostlink.TARGETS,
    *targets_nir.TARGETS,
    *targets_cli.TARGETS,
    *targets_compiler.TARGETS,
    *targets_rtl_bridge.TARGETS,
]
BY_NAME = {t.name: t for t in TARGETS}
