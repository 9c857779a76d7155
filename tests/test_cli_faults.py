"""``spikemesh compile --faults`` and ``spikemesh run --faults``."""

import pytest
from spikemesh.firmware.image import ChipImage

from spikemesh import cli

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


def test_faults_need_a_chip(capsys, files):
    rc, out, err = main(capsys, "run", files / "small.yaml", "--faults", files / "f.yaml")
    assert rc == 2 and "--faults needs --chip CHIP.yaml" in out + err


def test_timed_backend_refuses_route_tables(capsys, files):
    rc, out, err = main(
        capsys, "run", files / "small.yaml", "--chip", files / "chip.yaml", "-t", "5",
        "--faults", files / "f.yaml", "-b", "tlm-timed",
    )  # fmt: skip
    assert rc == 2
    assert "does not model route tables" in out + err
