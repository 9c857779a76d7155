"""Run a cocotb testbench on an Amaranth component through cocotb_tools.runner.

Every tb/<block>/test_<block>.py has a pytest entry point that calls
:func:`run_cocotb`: it converts the component to Verilog, builds it with
Verilator (or Icarus), runs the cocotb module, and fails the pytest test when
any cocotb test failed (``runner.test()`` alone would not) or when one of the
RTL's assertions (rtl/contracts.py) fired in the simulator.

A missing tool (simulator, FPGA tool, Python package of the flow) skips its
tests, unless ``SPIKEMESH_REQUIRE_TOOLS=1`` (set by .ci/run): then it fails
them, so a broken install cannot leave CI green with the HDL tests skipped.
Tests call :func:`missing_tool`, :func:`require_simulator` or
:func:`require_module` instead of ``pytest.skip`` / ``pytest.importorskip``.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import pytest

from spikemesh import hdlsim

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "cocotb"
REQUIRE_TOOLS = "SPIKEMESH_REQUIRE_TOOLS"


def tools_required() -> bool:
    """True when ``SPIKEMESH_REQUIRE_TOOLS`` is set (and not ``0``): a missing tool fails."""
    return os.environ.get(REQUIRE_TOOLS, "") not in ("", "0")


def missing_tool(message: str):
    """Skip the calling test because a tool is missing, or fail it under the switch."""
    if tools_required():
        pytest.fail(
            f"{message}, and {REQUIRE_TOOLS}=1 requires every simulator and FPGA tool "
            "(install it, or unset the variable to skip these tests)",
            pytrace=False,
        )
    pytest.skip(message)


def simulator_available(simulator: str) -> bool:
    return hdlsim.simulator_available(simulator)


def require_simulator(simulator: str) -> None:
    """Skip (or, under the switch, fail) unless ``simulator`` is installed."""
    if not simulator_available(simulator):
        missing_tool(f"{simulator} is not installed")


def require_module(name: str):
    """``pytest.importorskip`` that fails under the switch; returns the module."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing_tool(f"the Python package {name} is not installed")


# An RTL assertion that fired (rtl/contracts.py), as each simulator reports it; the
# Amaranth message is written just before, on the same line.
_ASSERTION_FAILED = {
    # Icarus prints it and runs on
    "icarus": re.compile(r"^(.*?)ERROR: (\S+\.v:\d+): *$", re.M),
    # Verilator stops the simulation
    "verilator": re.compile(r"^(.*?)(?:\[\d+\] )?%Error: (\S+\.v:\d+): Assertion failed", re.M),
}


def assertion_failures(log: str, simulator: str) -> list[str]:
    """The RTL assertion failures in a simulator's output: "message (file:line)" each."""
    return [
        f"{msg.strip() or 'assertion'} ({where})"
        for msg, where in _ASSERTION_FAILED[simulator].findall(log)
    ]


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
    cxx_opt: str | None = "-O0",
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
    cxx_opt : str or None
        The C++ optimisation of Verilator's model (``OPT_FAST``/``OPT_SLOW``). ``-O0``
        by default: a testbench spends its time in cocotb's Python, and the mesh's
        model takes minutes to compile optimised (4x4: 210 s of CPU with the
        default flags, 39 s at -O0, build and 100,000 flits run together). None:
        Verilator's defaults, for a bench whose run costs more than its build.
    """
    require_simulator(simulator)
    build_dir = BUILD / f"{name}-{simulator}"
    sim_log = build_dir / "sim.log"
    sim_log.unlink(missing_ok=True)  # a stale log must not be read as this run's
    try:
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
            sim_log=sim_log,
            make_flags=() if cxx_opt is None else (f"OPT_FAST={cxx_opt}", f"OPT_SLOW={cxx_opt}"),
        )
    finally:
        if sim_log.exists():
            text = sim_log.read_text(errors="replace")
            print(text)  # pytest shows it with -s, and with the report of a failed test
            fired = assertion_failures(text, simulator)
            assert not fired, (
                f"{len(fired)} RTL assertion failure(s) under {simulator} in {test_module} "
                f"(log: {sim_log}); first: {fired[0]}"
            )
    assert n_tests > 0, f"cocotb ran no test from {test_module}"
    assert n_failed == 0, (
        f"{n_failed} of {n_tests} cocotb tests failed in {test_module} (log under {build_dir})"
    )
    return n_tests


def long_run() -> bool:
    """True when the long randomized regressions are selected (SPIKEMESH_LONG=1)."""
    return os.environ.get("SPIKEMESH_LONG", "") not in ("", "0")
