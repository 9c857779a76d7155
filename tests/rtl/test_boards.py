"""Board tops without the FPGA tools: LoopbackChip vs its twin, pin requests, report parsing."""

import pytest
from amaranth.sim import Simulator
from spikemesh.firmware import build
from spikemesh.firmware.bridge_twin import loopback_chip
from spikemesh.rtl.boards import BOARDS, BoardTop, SpikemeshTop, loopback_factory

from spikemesh.config import ChipConfig
from spikemesh.hostlink import Cmd, HostCommands
from spikemesh.layouts import config_data_bits
from tests.helpers import stream_put

CHIP = ChipConfig()


def test_loopback_chip_matches_twin():
    dut = loopback_factory(CHIP)
    cmds = HostCommands(CHIP, config_data_bits(CHIP))
    twin = loopback_chip(cmds)
    words = [
        cmds.reset(),
        cmds.config_write((1, 1), 3, (1 << 60) | 5),
        cmds.run(2),
        cmds.input((0, 1), 17),
        cmds.end_tick(),
        cmds.read_status(2),
        cmds.encode(Cmd.READ_STATE, tile=(1, 0), arg=3, data=(1 << 61) - 1),
        cmds.end_tick(),
        cmds.encode(Cmd.NOP),
        cmds.input((1, 0), 0xFFFF_FFFF),
    ]
    expected = [r for w in words for r in twin(w)]
    got, running = [], []

    async def drive(ctx):
        for w in words:
            await stream_put(ctx, dut.i_cmd, cmds.layout.unpack(w))
            running.append(ctx.get(dut.running))

    async def sink(ctx):
        for _ in expected:
            got.append(await _get_word(ctx, dut))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(sink)
    sim.run()
    assert got == expected
    assert running[:2] == [0, 0] and running[2:5] == [1, 1, 1]  # set by RUN 2
    assert running[-1] == 0  # cleared by the second END_TICK


async def _get_word(ctx, dut):
    ctx.set(dut.o_rsp.ready, 1)
    (word,) = await ctx.tick().sample(dut.o_rsp.payload.as_value()).until(dut.o_rsp.valid)
    ctx.set(dut.o_rsp.ready, 0)
    return word


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_board_top_elaborates_with_pins(board):
    spec = BOARDS[board]
    platform = build._platform(spec)
    assert "openFPGALoader" not in platform.required_tools
    plan = platform.prepare(BoardTop(spec, lambda: loopback_factory(CHIP)), name="top")
    constraints = next(text for name, text in plan.files.items() if name.endswith((".pcf", ".lpf")))
    text = constraints if isinstance(constraints, str) else constraints.decode()
    for pin in ("uart_0__rx", "uart_0__tx", "led_0", "led_1", "led_2", "led_3"):
        assert pin in text, (pin, text)


def test_top_rejects_bad_baud():
    chip = loopback_factory(CHIP)
    chip._MustUse__silence = True  # never elaborated here
    with pytest.raises(ValueError, match=r"Baud rate 2500000 is 4\.0% off with a 12 MHz clock"):
        SpikemeshTop(chip, clk_freq=12e6, baud=2_500_000)


NEXTPNR_FIT_LOG = """\
Info: Device utilisation:
Info: 	         ICESTORM_LC:  6011/ 5280   113%
Info: 	        ICESTORM_RAM:    12/   30    40%
Info: 	               SB_IO:     7/   39    17%
ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'ICESTORM_LC'
"""

NEXTPNR_TIMING_LOG = """\
Info: Max frequency for clock 'cd_sync.clk': 40.00 MHz (PASS at 12.00 MHz)
Info: Max frequency for clock 'cd_sync.clk': 10.52 MHz (FAIL at 12.00 MHz)
"""


def test_log_parsers():
    util = build._utilisation_from_log(NEXTPNR_FIT_LOG)
    assert util == {"ICESTORM_LC": (6011, 5280), "ICESTORM_RAM": (12, 30), "SB_IO": (7, 39)}
    assert build._fmax_from_log(NEXTPNR_TIMING_LOG) == {"cd_sync.clk": (10.52, 12.0)}
    cells = build._yosys_cells("   Number of cells: 3\n     986   SB_LUT4\n      17   SB_DFF\n")
    assert cells["SB_LUT4"] == 986 and cells["SB_DFF"] == 17


def test_unknown_board():
    with pytest.raises(
        build.BuildError,
        match=r"Unknown board 'de10'; choose one of icebreaker, "
        r"ulx3s-25f, ulx3s-85f",
    ):
        build.build_board("de10")


class _FakePlatform:
    """Stands in for an amaranth-boards platform: writes the files nextpnr would."""

    default_clk_frequency = 12e6
    device, package = "iCE40UP5K", "SG48"

    def __init__(self, files, fail):
        self.files, self.fail = files, fail

    def build(self, top, *, build_dir, **kwargs):
        import subprocess
        from pathlib import Path

        top._MustUse__silence = True
        for name, text in self.files.items():
            (Path(build_dir) / name).write_text(text)
        if self.fail:
            raise subprocess.CalledProcessError(1, "build_top.sh")


def test_does_not_fit_reports_utilisation(tmp_path, monkeypatch):
    fake = _FakePlatform({"top.tim": NEXTPNR_FIT_LOG}, fail=True)
    monkeypatch.setattr(build, "_platform", lambda spec: fake)
    with pytest.raises(
        build.FitError,
        match=r"does not fit the icebreaker \(iCE40UP5K\): "
        r"ICESTORM_LC 6011/5280 \(113%\)\. Try a smaller",
    ):
        build.build_board("icebreaker", CHIP, tmp_path, design="loopback")


def test_timing_failure_reports_fmax(tmp_path, monkeypatch):
    import json

    report = {
        "fmax": {"cd_sync.clk": {"achieved": 10.52, "constraint": 12.0}},
        "utilization": {"ICESTORM_LC": {"used": 100, "available": 5280}},
    }
    fake = _FakePlatform({"report.json": json.dumps(report)}, fail=False)
    monkeypatch.setattr(build, "_platform", lambda spec: fake)
    with pytest.raises(
        build.TimingError,
        match=r"reaches 10\.52 MHz, below the board clock "
        r"of 12 MHz",
    ) as e:
        build.build_board("icebreaker", CHIP, tmp_path, design="loopback")
    assert e.value.report["fmax_mhz"] == 10.52 and not e.value.report["timing_met"]
    rep = build.build_board("icebreaker", CHIP, tmp_path, design="loopback", allow_timing_fail=True)
    assert rep["lcs"] == [100, 5280] and "10.52 MHz vs 12 MHz" in build.format_report(rep)
