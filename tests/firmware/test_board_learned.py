"""Plastic networks on the simulated board (issue 13): ``spikemesh board-sim --board
icebreaker --chip CHIP.yaml`` with a learning chip (the iCEBreaker's 1 x 1 n16 chip with one
learning profile), then ``spikemesh run NET -b board ... --check golden``: the image and its
learning tables loaded over the board's UART and bridge, run, LEARN_FLUSH and READ_LEARNED
(firmware/board_learned.py), equal to golden in every tick's spikes, the final u/v and every
learned weight and trace. The board's Verilator build is cached (``$SPIKEMESH_CACHE/rtl``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spikemesh import cli
from spikemesh.golden import Result
from tests.test_stdp_cli import PLASTIC

SIM = pytest.mark.xdist_group("board-sim-icebreaker-learning")


def learning_chip():
    """The iCEBreaker's default chip with learning cores (one profile)."""
    from spikemesh.firmware.board_runner import board_chip

    chip = board_chip("icebreaker")
    return dataclasses.replace(chip, core=dataclasses.replace(chip.core, learning_profiles=1))


@pytest.fixture(scope="module")
def learning_board(tmp_path_factory):
    """`spikemesh board-sim --board icebreaker --chip learn.yaml -q` as a user starts it."""
    from tests.firmware.board_sim_proc import board_sim_process

    chip_file = tmp_path_factory.mktemp("board") / "learn.yaml"
    chip_file.write_text(learning_chip().to_yaml())
    with board_sim_process("icebreaker", "--chip", str(chip_file)) as url:
        yield url, chip_file


@SIM
@pytest.mark.cocotb
def test_a_plastic_network_on_the_simulated_board_equals_golden(learning_board, tmp_path, capsys):
    """`spikemesh run plastic.yaml -b board --board icebreaker --chip learn.yaml --port URL
    --check golden`, and again with --out: golden's spikes, u/v, weights and traces, and
    something was learnt."""
    url, chip_file = learning_board
    net = tmp_path / "plastic.yaml"
    net.write_text(PLASTIC)
    out = tmp_path / "board.npz"
    argv = ["run", str(net), "-b", "board", "--board", "icebreaker", "--chip", str(chip_file)]
    argv += ["--port", url, "-t", "60"]
    assert cli.main([*argv, "--check", "golden"]) == 0
    text = capsys.readouterr().out
    assert "board and golden agree" in text and "every learned weight and trace" in text, text
    assert cli.main([*argv, "-q", "--out", str(out)]) == 0  # (--check writes no --out)
    board = Result.load(out)
    assert board.backend == "board" and board.spikes.any()
    w = board.extra["weights"][0]
    assert (w != 30).any(), "the plastic projection learnt nothing"
    assert (board.extra["weights"][1] == -5).all()  # the fixed projection stays put

    # a wrong expectation fails: golden's weights with one of them one off
    g = tmp_path / "golden.npz"
    assert cli.main(["run", str(net), "-b", "golden", "-t", "60", "-q", "--out", str(g)]) == 0
    gold = Result.load(g)
    assert board.diff(gold) == []
    gold.extra["weights"][0][int(np.argmax(w != 30))] ^= 1
    assert board.diff(gold) != []


def test_a_board_without_learning_cores_refuses_a_plastic_network(tmp_path, capsys):
    """The iCEBreaker's default chip has no learning cores: refused by name before the port
    is opened (nothing listens on it)."""
    net = tmp_path / "plastic.yaml"
    net.write_text(PLASTIC)
    argv = ["run", str(net), "-b", "board", "--board", "icebreaker"]
    assert cli.main([*argv, "--port", "socket://127.0.0.1:9", "-t", "5"]) != 0
    err = capsys.readouterr().err
    assert "a plastic network runs on a board whose chip has learning cores" in err, err
    assert "learning_profiles = 0" in err


@pytest.mark.cocotb
@pytest.mark.slow
def test_random_plastic_networks_on_a_simulated_2x2_learning_board():
    """SPIKEMESH_LONG=1: three of tb/chip's random plastic networks x 200 ticks on a
    simulated board holding its 2 x 2 learning chip (a build of its own): golden's spikes,
    u/v, weights and traces."""
    from spikemesh.firmware.board_learned import run_plastic_board
    from spikemesh.firmware.board_runner import BoardSim

    from tb.chip.test_chip_learning import SHAPES, plastic_networks
    from tb.runner import require_simulator

    require_simulator("verilator")
    ticks, name = 200, "2x2-n32"
    nets, _ = plastic_networks(3, ticks)
    with BoardSim("icebreaker", chip=SHAPES[name], max_seconds=1800) as sim:
        for seed, net, images, g in nets:
            r = run_plastic_board(net, images[name], net.input_raster(ticks), ticks, port=sim.url)
            assert r.diff(g) == [], f"seed {seed}: the board differs from golden"
            assert r.backend == "board" and r.extra["link"].get("rsp_frames_lost", 0) == 0
