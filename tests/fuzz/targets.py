"""Every fuzz target (bench/run_fuzz.py and tests/fuzz/test_fuzz.py run these)."""

from __future__ import annotations

from . import targets_hostlink, targets_image, targets_network

TARGETS = [*targets_network.TARGETS, *targets_image.TARGETS, *targets_hostlink.TARGETS]
BY_NAME = {t.name: t for t in TARGETS}
