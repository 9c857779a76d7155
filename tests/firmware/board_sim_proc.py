"""``spikemesh board-sim ... -q`` started as a user starts it, for the board tests: a
subprocess that builds the board's RTL (cached) and prints the URL of its UART once it
listens."""

from __future__ import annotations

import contextlib
import select
import subprocess
import sys

import pytest


@contextlib.contextmanager
def board_sim_process(board: str, *args: str, max_seconds: int = 900):
    """Start ``spikemesh board-sim --board BOARD ARGS -q``; yield its URL; stop it."""
    from tb.runner import require_simulator

    require_simulator("verilator")
    cmd = [sys.executable, "-m", "spikemesh.cli", "board-sim", "--board", board, *args, "-q"]
    proc = subprocess.Popen(
        [*cmd, "--max-seconds", str(max_seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], max_seconds)  # a cold build
        url = proc.stdout.readline().strip() if ready else ""
        if not url.startswith("socket://127.0.0.1:"):
            proc.kill()
            pytest.fail(f"spikemesh board-sim printed {url!r}: {proc.stderr.read()}")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
