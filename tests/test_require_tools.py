"""SPIKEMESH_REQUIRE_TOOLS: a missing simulator or FPGA tool skips, or fails in CI.

Also the reading of RTL assertion failures out of the simulators' logs
(tb/runner.py), on the lines Verilator and Icarus really print.
"""

from pathlib import Path

import pytest

import tb.runner as runner
from spikemesh import hdlsim

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_simulators(monkeypatch):
    """Every simulator missing from PATH (as on a machine with a broken install)."""
    monkeypatch.setattr(hdlsim.shutil, "which", lambda name: None)


@pytest.mark.parametrize("value", [None, "0", ""])
def test_missing_simulator_skips_without_the_switch(no_simulators, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(runner.REQUIRE_TOOLS, raising=False)
    else:
        monkeypatch.setenv(runner.REQUIRE_TOOLS, value)
    with pytest.raises(pytest.skip.Exception, match=r"^verilator is not installed$"):
        runner.require_simulator("verilator")


def test_missing_simulator_fails_with_the_switch(no_simulators, monkeypatch):
    monkeypatch.setenv(runner.REQUIRE_TOOLS, "1")
    with pytest.raises(pytest.fail.Exception) as e:
        runner.require_simulator("icarus")
    assert str(e.value).startswith(
        "icarus is not installed, and SPIKEMESH_REQUIRE_TOOLS=1 requires every simulator"
    )


def test_run_cocotb_fails_on_a_missing_simulator_with_the_switch(no_simulators, monkeypatch):
    """The path every tb/ test takes: nothing is built, the test fails at once."""
    monkeypatch.setenv(runner.REQUIRE_TOOLS, "1")
    with pytest.raises(pytest.fail.Exception, match="verilator is not installed"):
        runner.run_cocotb(None, toplevel="x", test_module="tb.x", name="never-built")
    assert not (runner.BUILD / "never-built-verilator").exists()


def test_missing_fpga_tool_module(monkeypatch):
    """tests/fpga's importorskip replacement."""
    monkeypatch.delenv(runner.REQUIRE_TOOLS, raising=False)
    assert runner.require_module("json").dumps(1) == "1"
    with pytest.raises(pytest.skip.Exception, match="no_such_yowasp_tool is not installed"):
        runner.require_module("no_such_yowasp_tool")
    monkeypatch.setenv(runner.REQUIRE_TOOLS, "1")
    with pytest.raises(pytest.fail.Exception, match="no_such_yowasp_tool is not installed"):
        runner.require_module("no_such_yowasp_tool")


def test_ci_requires_the_tools():
    assert "SPIKEMESH_REQUIRE_TOOLS=1" in (ROOT / ".ci" / "run").read_text()


MSG = "router_1_1_local_input: a flit refused while the FIFO was full was withdrawn"


def test_assertion_failures_read_from_the_logs():
    verilator = (
        "     0.00ns INFO     cocotb.regression    running test_withdrawn_flit (1/1)\n"
        f"{MSG}[195000] %Error: router_tb.v:1096: Assertion failed in router_tb.dut: "
        "'assert' failed.\n"
        "%Error: /b/router_tb.v:1096: Verilog $stop\n"
    )
    icarus = (
        "     0.00ns INFO     cocotb.regression    running test_withdrawn_flit (1/1)\n"
        f"{MSG}ERROR: /b/router-icarus/router_tb.v:1096: \n"
        "       Time: 195000 Scope: router_tb.dut\n"
        "   220.00ns INFO     cocotb.regression    test_withdrawn_flit passed\n"
    )
    assert runner.assertion_failures(verilator, "verilator") == [f"{MSG} (router_tb.v:1096)"]
    assert runner.assertion_failures(icarus, "icarus") == [
        f"{MSG} (/b/router-icarus/router_tb.v:1096)"
    ]
    # cocotb's own ERROR lines are not RTL assertions
    clean = "   10.00ns ERROR    cocotb.regression    test_x failed\n"
    assert runner.assertion_failures(clean, "icarus") == []
    assert runner.assertion_failures(clean, "verilator") == []
