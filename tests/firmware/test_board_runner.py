"""The board backend: a network loaded and run through the UART bridge, on the simulated board.

The simulator tests share one Verilator build of the iCEBreaker's board top (1 x 1 chip of a
256-neuron core; ~1 min to build once, cached under ``$SPIKEMESH_CACHE/rtl``) and one running
simulated board (a module fixture), so they run on one xdist worker (``xdist_group``).
Issue 17's done-when, ``spikemesh run examples/ei_random.yaml -b board --check golden``,
runs on the simulated ULX3S-25F (its default chip, one 1,024-neuron core), started as a user
starts it (``spikemesh board-sim``, a subprocess; ~1.5 min to build once).
The error paths that need no simulator (no port, nothing answering, a bridge of another
chip) run against sockets, pyserial's ``loop://`` and the bridge's Python twin.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from spikemesh.firmware.board_runner import (
    BoardError,
    BoardMismatch,
    board_chip,
    check_board,
    run_image_board,
    tick_frames,
)

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import CompileError, SpikemeshError
from spikemesh.hostlink import Cmd, HostCommands, command_layout, word_bytes
from spikemesh.layouts import config_data_bits
from tests.firmware.random_nets import random_network

CHIP = board_chip("icebreaker")
SIM = pytest.mark.xdist_group("board-sim-icebreaker")


def _network(seed, chip=CHIP, ticks=40):
    """A random network that fits ``chip``, with inputs, that spikes in some ticks."""
    from spikemesh.firmware import compile_network

    while True:
        net = random_network(seed, max_neurons=int(chip.core.neurons * 0.9), recurrent=True)
        seed += 1
        try:
            img, _ = compile_network(net, chip)
        except CompileError:
            continue
        if net.num_sources and net.input_raster(ticks).any():
            return net, img


# --- no simulator ------------------------------------------------------------------------------


def test_frames_hold_whole_ticks_behind_their_own_run():
    from spikemesh.firmware.loader import run_commands

    _, img = _network(5)
    ticks = 40
    inputs = np.zeros((ticks, img.num_sources), dtype=bool)
    inputs[3, :] = True  # one tick with every source: more words than a frame
    inputs[7, 0] = True
    cmds = run_commands(img, inputs, ticks)
    lay = command_layout(CHIP, config_data_bits(CHIP))
    frames = tick_frames(img, cmds, 16)
    flat = [lay.unpack(w) for f in frames for w in f]
    assert all(len(f) <= 16 for f in frames)
    # every command of the run, in order, with RUN n replaced by one RUN per frame
    body = [(c["op"], c["arg"]) for c in flat if c["op"] != Cmd.RUN]
    assert body == [(c["op"], c["arg"]) for c in cmds[1:]]
    runs = [c["arg"] for c in flat if c["op"] == Cmd.RUN]
    assert sum(runs) == ticks
    big = sum(1 for s in range(img.num_sources) for _ in range(img.src_ptr[s], img.src_ptr[s + 1]))
    for f in frames:
        f = [lay.unpack(w) for w in f]
        if f[0]["op"] == Cmd.RUN:
            # a frame of whole ticks: its RUN counts its END_TICKs (only the big tick spills)
            ends = sum(c["op"] == Cmd.END_TICK for c in f)
            assert f[0]["arg"] == ends or (big > 15 and f[-1]["op"] != Cmd.END_TICK)


def test_a_missing_port_is_a_clear_error():
    _, img = _network(5)
    t0 = time.monotonic()
    with pytest.raises(BoardError, match=r"cannot open the board's port /dev/ttyNOSUCH"):
        run_image_board(img, np.zeros((3, img.num_sources), bool), 3, port="/dev/ttyNOSUCH")
    with pytest.raises(BoardError, match=r"cannot open the board.s port socket://127\.0\.0\.1"):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        run_image_board(
            img, np.zeros((3, img.num_sources), bool), 3, port=f"socket://127.0.0.1:{port}"
        )
    assert time.monotonic() - t0 < 5


def test_the_input_raster_is_checked_before_the_port_is_opened():
    _, img = _network(5)
    with pytest.raises(SpikemeshError, match=r"inputs must have shape \(3, "):
        run_image_board(img, np.zeros((2, img.num_sources), bool), 3, port="/dev/ttyNOSUCH")


class _Silent:
    """A TCP server on 127.0.0.1 that accepts and reads but never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.got = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.settimeout(10)
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                self.got += len(data)

    def close(self):
        self.sock.close()
        self.thread.join(15)


@pytest.mark.parametrize("kind", ["silent socket", "loop://"])
def test_a_port_where_nothing_answers_fails_in_bounded_time(kind):
    _, img = _network(5)
    server = _Silent() if kind == "silent socket" else None
    url = f"socket://127.0.0.1:{server.port}" if server else "loop://"
    t0 = time.monotonic()
    try:
        with pytest.raises(BoardError, match=r"no answer from a spikemesh board on .* at 115200"):
            run_image_board(
                img, np.zeros((2, img.num_sources), bool), 2, port=url, timeout=0.2, retries=2
            )
    finally:
        if server:
            server.close()
    assert time.monotonic() - t0 < 3  # 2 attempts x 0.2 s, plus opening
    if server:
        assert server.got > 0  # the host did send (a SYNC/PING frame)


def test_another_bridge_is_named_from_its_info_frame():
    """A board whose command words are one byte longer (the bridge's Python twin)."""
    from spikemesh.firmware.uart_loader import BridgeModel, HostLinkUART, loopback_chip

    cmds = HostCommands(CHIP, config_data_bits(CHIP))
    n = word_bytes(cmds.layout)
    bridge = BridgeModel(loopback_chip(cmds), cmd_bytes=n + 1)
    link = HostLinkUART(bridge, cmds, sync=False)
    with pytest.raises(BoardMismatch, match=rf"cmd_bytes is {n + 1} on the board, {n} for this"):
        check_board(link, CHIP, where="the board")


def test_backend_usage_errors():
    from spikemesh.cli_board import BoardUsageError, add_board_arguments, run_board_backend

    net, _ = _network(5)
    args = argparse.Namespace(port=None, baud=None, board="icebreaker", chip=None, acc_bits=None)
    with pytest.raises(BoardUsageError, match="needs --port"):
        run_board_backend(net, 3, args)
    args = argparse.Namespace(port="loop://", baud=None, board=None, chip=None, acc_bits=None)
    with pytest.raises(BoardUsageError, match=r"needs --board \(icebreaker\|"):
        run_board_backend(net, 3, args)
    args = argparse.Namespace(port="loop://", baud=None, board="icebreaker", chip=None, acc_bits=16)
    with pytest.raises(BoardUsageError, match="--acc-bits 16 differs from the board's chip"):
        run_board_backend(net, 3, args)
    with pytest.raises(BoardError, match="unknown board 'nosuch'"):
        board_chip("nosuch")
    parser = argparse.ArgumentParser()
    add_board_arguments(parser)
    a = parser.parse_args(["--port", "/dev/ttyUSB1", "--baud", "9600", "--board", "ulx3s-25f"])
    assert (a.port, a.baud, a.board) == ("/dev/ttyUSB1", 9600, "ulx3s-25f")


# --- the simulated board ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def board():
    from spikemesh.firmware.board_runner import BoardSim

    from tb.runner import require_simulator

    require_simulator("verilator")  # a skip, or a failure under SPIKEMESH_REQUIRE_TOOLS=1
    with BoardSim("icebreaker", max_seconds=600) as sim:
        yield sim


@SIM
@pytest.mark.cocotb
@pytest.mark.parametrize("seed", [47])
def test_board_runs_a_network_bit_exact_with_golden(board, seed):
    """-b board on the simulated iCEBreaker: every tick's spikes and the final u/v as golden;
    cycles per tick as the timed model's wherever the UART did not hold the chip up."""
    from spikemesh.sim.timed import run_image_timed

    from spikemesh.cli_board import run_board_backend
    from spikemesh.golden import run_golden

    ticks = 40
    net, img = _network(seed, ticks=ticks)
    args = argparse.Namespace(
        port=board.url, baud=None, board="icebreaker", chip=None, acc_bits=None
    )
    res = run_board_backend(net, ticks, args)
    assert res.backend == "board" and args.chip == CHIP
    gold = run_golden(net, ticks, acc_bits=CHIP.core.acc_bits)
    assert res.diff(gold) == []
    assert res.spikes.any() and res.final_u.size == net.num_neurons
    assert res.extra["link"].get("rsp_frames_lost", 0) == 0

    # Cycles: the chip's own count. The bridge takes a response word only as fast as the
    # UART sends it, so a tick with two or more host-bound spikes waits for the link, and it
    # hands the chip a command word per 27 cycles, so input events can hold a tick up too;
    # the other ticks take exactly the timed model's cycles (each frame carries whole ticks
    # behind its own RUN, so no tick waits for its commands to cross the UART).
    timed, _ = run_image_timed(img, net.input_raster(ticks), ticks)
    per_tick = res.spikes.sum(axis=1)  # every neuron is host-bound (host_outputs="all")
    raster = net.input_raster(ticks)
    words = np.array(
        [sum(int(img.src_ptr[s + 1] - img.src_ptr[s]) for s in np.flatnonzero(r)) for r in raster]
    )
    assert (words > 0).sum() >= 5, words  # the run has input events
    assert (res.cycles >= timed.cycles).all(), (res.cycles, timed.cycles)
    # The first tick behind each frame's RUN also waits for its END_TICK, handed over 27
    # cycles after the RUN, when its own work is shorter than that.
    from spikemesh.firmware.board_runner import tick_frames
    from spikemesh.firmware.loader import run_commands

    from spikemesh.hostlink import Cmd, command_layout
    from spikemesh.layouts import config_data_bits

    op_of = command_layout(img.chip, config_data_bits(img.chip))
    first, t = [], 0
    for frame in tick_frames(img, run_commands(img, raster, ticks), 16):
        if op_of.unpack(frame[0])["op"] == Cmd.RUN:
            first.append(t)
        t += sum(op_of.unpack(w)["op"] == Cmd.END_TICK for w in frame)
    quiet = (words == 0) & (per_tick <= 1)
    quiet[first] = False
    assert quiet.sum() >= 8 and (per_tick >= 2).sum() >= 5, (words, per_tick)
    np.testing.assert_array_equal(res.cycles[quiet], timed.cycles[quiet])


@SIM
@pytest.mark.cocotb
@pytest.mark.parametrize(
    "chip, problem",
    [
        (ChipConfig(width=2, height=2), r"it has no tile \(1, 1\): its mesh is smaller"),
        (
            ChipConfig(width=1, height=1, core=CoreConfig(neurons=512)),
            r"reads back as .*: its cores have fewer neurons",
        ),
        (
            ChipConfig(width=1, height=1, core=CoreConfig(neurons=32)),
            r"its cores have a neuron at index 32: more than 32 per core",
        ),
    ],
    ids=["2x2", "n512", "n32"],
)
def test_an_image_for_another_chip_is_refused(board, chip, problem):
    """The board holds the iCEBreaker's 1 x 1 n256 chip; images for other chips are refused
    before anything is loaded, naming what differs."""
    net, img = _network(3, chip=chip)
    t0 = time.monotonic()
    with pytest.raises(BoardMismatch, match=problem):
        run_image_board(img, net.input_raster(5), 5, port=board.url)
    assert time.monotonic() - t0 < 30


@SIM
@pytest.mark.cocotb
def test_a_board_in_use_is_a_clear_error(board):
    """The simulated board serves one host at a time, like a serial port: a second one is
    turned away with a clear error, and the board works again once the first has gone."""
    from spikemesh.firmware.board_runner import open_board

    net, img = _network(11)
    first = open_board(CHIP, port=board.url)
    try:
        t0 = time.monotonic()
        with pytest.raises(BoardError, match="is another program using the board"):
            run_image_board(img, net.input_raster(3), 3, port=board.url)
        assert time.monotonic() - t0 < 5
    finally:
        first.transport.close()
    for _ in range(50):  # the harness notices the first host's close at its next poll
        try:
            res = run_image_board(img, net.input_raster(3), 3, port=board.url)
            break
        except BoardError:
            time.sleep(0.1)
    assert res.spikes.shape == (3, net.num_neurons)


RING = """
name: ring
populations:
  - {name: a, size: 6, du: 4095, dv: 1024, vth: 925, refractory: 2, record: true}
  - {name: b, size: 6, du: 4095, dv: 1024, vth: 925, refractory: 2, bias_mant: 3, bias_exp: 4}
sources:
  - {name: kick, size: 6, spikes: {0: [0, 1, 2], 9: [3, 4, 5]}}
projections:
  - {pre: kick, post: a, connectivity: one_to_one, weight: 127, weight_exp: 7}
  - {pre: a, post: b, connectivity: fixed_probability, p: 0.5, seed: 1,
     weight: {uniform: [40, 120], seed: 2}, weight_exp: 2}
  - {pre: b, post: a, connectivity: fixed_probability, p: 0.5, seed: 3,
     weight: {uniform: [40, 120], seed: 4}, weight_exp: 2}
"""


@SIM
@pytest.mark.cocotb
def test_cli_run_on_the_board_checked_against_golden(board, tmp_path, capsys):
    """`spikemesh run NET -b board --board icebreaker --port URL --check golden -o run.npz`."""
    from spikemesh import cli

    net = tmp_path / "ring.yaml"
    net.write_text(RING)
    argv = ["run", str(net), "-b", "board", "--board", "icebreaker", "--port", board.url]
    assert cli.main([*argv, "-t", "30", "--check", "golden"]) == 0
    out = capsys.readouterr().out
    assert "board and golden agree" in out, out
    out_file = tmp_path / "run.npz"
    assert cli.main([*argv, "-t", "30", "-q", "-o", str(out_file)]) == 0
    saved = np.load(out_file)
    assert saved["spikes"].shape == (30, 12) and saved["spikes"].any()
    # the port of a board that is not there: one line on stderr, exit status 2
    assert cli.main([*argv[:-1], "/dev/ttyNOSUCH", "-t", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot open the board's port /dev/ttyNOSUCH"), err


# --- issue 17's done-when: examples/ei_random.yaml on the simulated ULX3S-25F -----------------

EI_RANDOM = Path(__file__).resolve().parents[2] / "examples" / "ei_random.yaml"
SIM25 = pytest.mark.xdist_group("board-sim-ulx3s-25f")


@pytest.fixture(scope="module")
def board25():
    """`spikemesh board-sim --board ulx3s-25f -q` as a user starts it: a subprocess that
    builds the board's RTL (cached) and prints the URL of its UART once it listens."""
    from tests.firmware.board_sim_proc import board_sim_process

    with board_sim_process("ulx3s-25f") as url:
        yield url


@SIM25
@pytest.mark.cocotb
def test_ei_random_on_the_simulated_ulx3s_25f_equals_golden(board25, capsys):
    """`spikemesh run examples/ei_random.yaml -b board --board ulx3s-25f --port URL --check
    golden`: the 500-neuron network on the 25F's default chip (one 1,024-neuron core),
    loaded over the board's real UART and bridge (4 clock cycles per bit), bit-exact."""
    from spikemesh import cli

    argv = ["run", str(EI_RANDOM), "-b", "board", "--board", "ulx3s-25f", "--port", board25]
    t0 = time.monotonic()
    assert cli.main([*argv, "-t", "20", "--check", "golden"]) == 0
    seconds = time.monotonic() - t0
    out = capsys.readouterr().out
    assert "board and golden agree" in out, out
    compared = out.split("board and golden agree", 1)[1]
    assert "spikes" in compared and "final" in compared, compared
    assert "500 neurons" in out or "500" in out, out
    with capsys.disabled():
        print(f"\nei_random on the simulated ULX3S-25F: load, 20 ticks, check in {seconds:.1f} s")


@SIM25
@pytest.mark.cocotb
def test_ei_random_refusals_name_the_problem(board25, tmp_path, capsys):
    """Through the CLI, each a one-line error and exit 2: the network on a board whose chip
    is too small (naming the limit), and a bitstream of another chip on the port."""
    from spikemesh import cli

    # 500 neurons on the iCEBreaker's 256-neuron chip: refused before any port is opened
    argv = ["run", str(EI_RANDOM), "-b", "board", "--board", "icebreaker", "--port", board25]
    assert cli.main([*argv, "-t", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ei_random does not fit the icebreaker board's chip"), err
    assert "the network has 500 neurons, the chip holds 256" in err, err
    # a network that fits the iCEBreaker's chip, sent to the 25F's bitstream
    net = tmp_path / "ring.yaml"
    net.write_text(RING)
    argv = ["run", str(net), "-b", "board", "--board", "icebreaker", "--port", board25]
    assert cli.main([*argv, "-t", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the board on socket://") and "another chip" in err, err


def test_cli_an_unreachable_port_is_a_clear_error(capsys):
    """No simulator: a TCP port where nothing listens, through `spikemesh run -b board`."""
    from spikemesh import cli

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = f"socket://127.0.0.1:{port}"
    argv = ["run", str(EI_RANDOM), "-b", "board", "--board", "ulx3s-25f", "--port", url]
    t0 = time.monotonic()
    assert cli.main([*argv, "-t", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot open the board's port {url}"), err
    assert time.monotonic() - t0 < 10
