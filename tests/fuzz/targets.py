"""Every fuzz target (bench/run_fuzz.py and tests/fuzz/test_fuzz.py run these)."""

from __future__ import annotations

from . import targets_cli, targets_hostlink, targets_image, targets_network, targets_nir

TARGETS = [
    *targets_network.TARGETS,
    *targets_image.TARGETS,
    *targets_hostlink.TARGETS,
    *targets_nir.TARGETS,
    *targets_cli.TARGETS,
]
BY_NAME = {t.name: t for t in TARGETS}
