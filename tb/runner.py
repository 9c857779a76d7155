"""Run a cocotb testbench on an Amaranth component through cocotb_tools.runner.

Every tb/<block>/test_<block>.py has a pytest entry point that calls
:func:`run_cocotb`: it converts the component to Verilog, builds it with
Verilator (or Icarus), runs the cocotb module, and fails the pytest test when
any cocotb test failed (``runner.test()`` alone would not).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spikemesh import hdlsim

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "cocotb"


def simulator_available(simulator: str) -> bool:
    return hdlsim.simulator_available(simulator)


def write_verilog(component, path: Path, *, toplevel: str) -> Path:
    return hdlsim.write_verilog(component, path, toplevel=toplevel)


def run_cocotb(
    component,
    *,
    toplevel: str,
    test_module: str,
    name: str,
    simulator: str = "verilator",
    env: dict | None = None,
    testcase=None,
    seed: int | None = None,
    waves: bool = False,
):
    """Build and run; raise AssertionError if a cocotb test failed or none ran.

    Parameters
    ----------
    component : amaranth Component (converted here) or a path to a Verilog file
    toplevel : str
        Verilog module name.
    test_module : str
        Dotted module with the cocotb tests, e.g. ``"tb.core.test_core"``.
    name : str
        Build directory name under build/cocotb/; give each parallel run its own.
    env : dict
        Extra environment for the cocotb process; values that are not strings
        are passed as JSON (e.g. the config dicts).
    """
    if not simulator_available(simulator):
        pytest.skip(f"{simulator} is not installed")
    build_dir = BUILD / f"{name}-{simulator}"
    n_tests, n_failed = hdlsim.build_and_test(
        component,
        toplevel=toplevel,
        test_module=test_module,
        build_dir=build_dir,
        simulator=simulator,
        env=env,
        testcase=testcase,
        seed=seed,
        waves=waves,
    )
    assert n_tests > 0, f"cocotb ran no test from {test_module}"
    assert n_failed == 0, (
        f"{n_failed} of {n_tests} cocotb tests failed in {test_module} (log under {build_dir})"
    )
    return n_tests


def long_run() -> bool:
    """True when the long randomized regressions are selected (SPIKEMESH_LONG=1)."""
    return os.environ.get("SPIKEMESH_LONG", "") not in ("", "0")
