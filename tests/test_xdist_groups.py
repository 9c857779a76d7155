"""The suite's ``xdist_group`` marks are honoured: tests that share an HDL build run on one
worker (scripts/run-tests.sh runs ``--dist loadgroup``). pytest 9.2 with pytest-xdist 3.8
ignored them without a word (pytest-xdist issue 1386); this fails if that comes back."""

from __future__ import annotations

import os
import re
import subprocess
import sys

GROUPED = """
import os
import pytest

@pytest.mark.xdist_group("shared-build")
@pytest.mark.parametrize("k", range(6))
def test_grouped(k):
    print("WORKER", os.environ["PYTEST_XDIST_WORKER"])
"""


def test_an_xdist_group_runs_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
         "no:cacheprovider", "-c", "/dev/null", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
    ).stdout  # fmt: skip
    workers = re.findall(r"\[(gw\d+)\] .* PASSED .*test_grouped", out)
    assert len(workers) == 6, out
    assert len(set(workers)) == 1, f"the group ran on {sorted(set(workers))}:\n{out}"
