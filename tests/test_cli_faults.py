"""``spikemesh compile --faults`` and ``spikemesh run --faults``."""

from pathlib import Path

import pytest
from spikemesh.firmware.image import ChipImage
from spikemesh.sim.timed import run_image_timed

from spikemesh import cli
from spikemesh.netfile import load_network

from .test_cli import SMALL

CHIP = (
    "width: 3\nheight: 3\ncore: {neurons: 16, axons: 64, synapses: 256, fanout: 64, profiles: 2}\n"
)
FAULTS = """\
links:
  - {x: 1, y: 1, port: east}
  - {x: 0, y: 1, port: north, one_way: true}
routers: [[2, 2]]
cores: [[1, 0]]
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "small.yaml").write_text(SMALL)
    (tmp_path / "chip.yaml").write_text(CHIP)
    (tmp_path / "f.yaml").write_text(FAULTS)
    return tmp_path


def main(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_compile_with_faults(capsys, files):
    img = files / "net.img"
    rc, _, err = main(
        capsys, "compile", files / "small.yaml", "--chip", files / "chip.yaml",
        "--faults", files / "f.yaml", "--neurons-per-core", "2", "-o", img,
    )  # fmt: skip
    assert rc == 0, err
    image = ChipImage.load(img)
    assert image.routing is not None and (2, 2) in image.faults.routers
    assert all(s // 16 not in (1, 8) for s in image.neuron_slot)  # cores (1,0) and (2,2)
    # its chip's routers take the tables, so the image runs on the timed backends
    assert image.chip.router.route_tables
    result, _ = run_image_timed(image, load_network(files / "small.yaml").input_raster(5), 5)
    assert result.cycles.shape == (5,)


def test_run_with_faults_checks_against_golden(capsys, files):
    rc, out, err = main(
        capsys, "run", files / "small.yaml", "--chip", files / "chip.yaml", "-t", "20",
        "--faults", files / "f.yaml", "-b", "tlm", "--check", "golden",
    )  # fmt: skip
    assert rc == 0, out + err
    assert "agree" in out


def test_run_with_random_faults(capsys, files):
    rc, out, err = main(
        capsys, "run", files / "small.yaml", "--chip", files / "chip.yaml", "-t", "10",
        "--faults", "random:3:2", "-b", "tlm", "-q",
    )  # fmt: skip
    assert rc == 0, out + err


@pytest.mark.parametrize(
    "spec, msg",
    [
        ("random:x:2", r"expected random:SEED:LINKS or random:SEED:LINKS:ROUTERS"),
        ("nofile.yaml", r"fault map nofile.yaml does not exist"),
    ],
)
def test_bad_faults_exit_2(capsys, files, spec, msg):
    rc, out, err = main(
        capsys, "run", files / "small.yaml", "--chip", files / "chip.yaml", "--faults", spec
    )
    assert rc == 2
    assert pytest.importorskip("re").search(msg, out + err)


def test_faults_without_chip_are_for_the_auto_sized_chip(capsys, files):
    """Without --chip a fault map is read for the chip the network is auto-sized to (the
    console names it): ei_random's 2 x 2 chip with a dead link runs on the timed model
    with golden's spikes; a map naming tiles off that mesh is a clear error."""
    ei = Path(__file__).resolve().parent.parent / "examples" / "ei_random.yaml"
    rc, out, err = main(
        capsys, "run", ei, "-t", "20", "--faults", "random:1:1", "-b", "tlm-timed",
        "--check", "golden",
    )  # fmt: skip
    assert rc == 0, out + err
    assert "--faults: for the auto-sized 2 x 2 chip" in out and "agree" in out
    rc, out, err = main(capsys, "run", ei, "-t", "5", "--faults", files / "f.yaml", "-b", "tlm")
    assert rc == 2 and "error: " in err and "Traceback" not in out + err


@pytest.mark.parametrize("backend", ["tlm-timed", "tlm-cycle"])
def test_timed_backends_run_route_tables(capsys, files, backend):
    """The cycle-level models take the image's route tables (over the host link's ROUTE
    region): golden's spikes on the faulty chip."""
    rc, out, err = main(
        capsys, "run", files / "small.yaml", "--chip", files / "chip.yaml", "-t", "10",
        "--faults", files / "f.yaml", "-b", backend, "--check", "golden",
    )  # fmt: skip
    assert rc == 0, out + err
    assert "agree" in out


@pytest.mark.cocotb
@pytest.mark.xdist_group("chip-3x3-n16-tables-build")
def test_rtl_with_faults_gives_golden_spikes_and_the_timed_cycles(capsys, files):
    """The issue's command: ``spikemesh run NET -b rtl --faults f.yaml`` (with its chip) gives
    the fault-free spikes (golden) with the timed model's cycles (--check tlm-timed compares
    spikes and every tick's cycles). The chip is tests/firmware/test_rtl_faults.py's (one
    Verilator build)."""
    from tb.runner import require_simulator
    from tests.sim.test_chip_faults import CHIP

    require_simulator("verilator")
    (files / "chip3.yaml").write_text(CHIP.to_yaml())
    common = ["--chip", files / "chip3.yaml", "-t", "15", "--faults", files / "f.yaml"]
    rc, out, err = main(
        capsys, "run", files / "small.yaml", *common, "-b", "rtl", "--check", "tlm-timed"
    )
    assert rc == 0, out + err
    assert "agree" in out and "cycles" in out
    rc, out, err = main(capsys, "run", files / "small.yaml", *common, "-b", "rtl", "-q",
                        "--check", "golden")  # fmt: skip
    assert rc == 0, out + err
