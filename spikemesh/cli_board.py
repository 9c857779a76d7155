"""``spikemesh run NET -b board`` and ``spikemesh board-sim``: networks on an FPGA board.

``spikemesh run NET.yaml -b board --board icebreaker --port /dev/ttyUSB1`` compiles the
network for the chip the board was built with (the board's default chip, as ``spikemesh
build --board`` builds it, or ``--chip CHIP.yaml``), loads it over the board's UART, runs
the ticks and reads the final state (:func:`spikemesh.firmware.board_runner.run_image_board`).

``spikemesh board-sim --board icebreaker`` starts the simulated board (the board's RTL on
Verilator behind a TCP socket on 127.0.0.1) and prints the ``--port`` to give ``run``.

Wiring (in spikemesh/backends.py and spikemesh/cli.py)::

    BACKENDS["board"] = run_board_backend          # backends.py
    add_board_arguments(run)                       # cli.py, the run parser
    add_board_sim_parser(sub)                      # cli.py, the subcommands
"""

from __future__ import annotations

import argparse
import time

from .errors import CompileError, SpikemeshError
from .golden import Result
from .network import Network


class BoardUsageError(SpikemeshError):
    """A command line that cannot run on a board."""


def _boards():
    from spikemesh.rtl.boards import BOARDS

    return sorted(BOARDS)


def add_board_arguments(run_parser: argparse.ArgumentParser) -> None:
    """Add ``--port``, ``--baud`` and ``--board`` to the ``run`` subcommand's parser."""
    run_parser.add_argument(
        "--port",
        metavar="PORT",
        default=None,
        help="board: the board's serial port (/dev/ttyUSB1, COM3) or a pyserial URL "
        "(socket://127.0.0.1:PORT for `spikemesh board-sim`)",
    )
    run_parser.add_argument(
        "--baud",
        type=int,
        default=None,
        help="board: UART rate of the bitstream (default 115200)",
    )
    run_parser.add_argument(
        "--board",
        choices=_boards(),
        default=None,
        help="board: the board, whose default chip the network is compiled for "
        "(unless --chip names the chip the bitstream was built with)",
    )


def board_args_used(args: argparse.Namespace) -> list[str]:
    """The board-only options given on the command line (for a usage check)."""
    return [f"--{k}" for k in ("port", "baud", "board") if getattr(args, k, None) is not None]


def run_board_backend(net: Network, ticks: int, args: argparse.Namespace) -> Result:
    """Run ``net`` on the board at ``args.port``; the ``board`` backend.

    Reads ``args.port``, ``args.baud``, ``args.board``, ``args.chip`` (a ChipConfig, after
    ``resolve_run_args``) and ``args.acc_bits``. Sets ``args.chip`` to the board's chip, so
    that ``--check`` compiles the same image (``compile_for`` caches it on ``args``).
    """
    from spikemesh.backends import compile_for
    from spikemesh.firmware.board_runner import DEFAULT_BAUD, board_chip, run_image_board

    port = getattr(args, "port", None)
    if not port:
        raise BoardUsageError(
            "the board backend needs --port: the board's serial port (e.g. /dev/ttyUSB1), "
            "or socket://127.0.0.1:PORT from `spikemesh board-sim`"
        )
    board = getattr(args, "board", None)
    if board is None and getattr(args, "chip", None) is None:
        raise BoardUsageError(
            f"the board backend needs --board ({'|'.join(_boards())}) or --chip CHIP.yaml: "
            "the chip the board's bitstream was built with"
        )
    baud = getattr(args, "baud", None) or DEFAULT_BAUD
    chip = board_chip(board, getattr(args, "chip", None))
    acc = getattr(args, "acc_bits", None)
    if acc is not None and acc != chip.core.acc_bits:
        raise BoardUsageError(
            f"--acc-bits {acc} differs from the board's chip ({chip.core.acc_bits} bits); "
            f"drop it or pass --acc-bits {chip.core.acc_bits}"
        )
    args.chip = chip
    args.acc_bits = chip.core.acc_bits
    try:
        image = compile_for(net, args)
    except CompileError as e:
        where = f"the {board} board's chip" if board else "the board's chip (--chip)"
        c = chip.core
        tiles = chip.width * chip.height
        raise BoardUsageError(
            f"{net.name} does not fit {where}, a {chip.width} x {chip.height} chip of "
            f"{c.neurons}-neuron cores ({tiles * c.neurons:,} neurons, {tiles * c.synapses:,} "
            f"synapses, {c.axons:,} axons per core): {e}. Use a board with a larger chip "
            f"(--board {'|'.join(_boards())}) or the chip its bitstream was built with (--chip)"
        ) from None
    if net.plastic:  # learning tables and read-back: firmware/board_learned.py (L2)
        from spikemesh.firmware.board_learned import run_plastic_board

        return run_plastic_board(
            net, image, net.input_raster(ticks), ticks, port=port, baud=baud, board=board
        )
    return run_image_board(image, net.input_raster(ticks), ticks, port=port, baud=baud, board=board)


# --- spikemesh board-sim --------------------------------------------------------------------


def add_board_sim_parser(subparsers) -> argparse.ArgumentParser:
    """The ``board-sim`` subcommand."""
    from spikemesh.firmware.board_runner import SIM_DIVISOR

    p = subparsers.add_parser(
        "board-sim",
        help="start a simulated FPGA board (Verilator) and print its port",
        description="Simulate a board's RTL (UART, host bridge, chip) on Verilator behind a TCP "
        "socket on 127.0.0.1; talk to it with `spikemesh run NET -b board --port URL`. Runs "
        "until interrupted (Ctrl-C).",
    )
    p.add_argument("--board", choices=_boards(), default="icebreaker")
    p.add_argument(
        "--chip", metavar="CHIP.yaml", default=None, help="chip instead of the board's default"
    )
    p.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free one)"
    )
    p.add_argument(
        "--divisor",
        type=int,
        default=SIM_DIVISOR,
        help=f"clock cycles per UART bit (default {SIM_DIVISOR}; a real board: clk / baud)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=0,
        help="stop after this many seconds (default: run until interrupted)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print only the port URL")
    p.set_defaults(func=cmd_board_sim)
    return p


def cmd_board_sim(args: argparse.Namespace, console) -> int:
    """Handler of ``spikemesh board-sim``: build (cached), start, print the URL, wait."""
    from pathlib import Path

    from spikemesh.config import ChipConfig
    from spikemesh.firmware.board_runner import BoardSim

    chip = ChipConfig.from_yaml(Path(args.chip)) if args.chip else None
    sim = BoardSim(
        args.board, chip=chip, port=args.port, divisor=args.divisor, max_seconds=args.max_seconds
    )
    if not args.quiet:
        c = sim.chip
        console.print(
            f"simulated {args.board}: {c.width} x {c.height} chip, {c.core.neurons} neurons per "
            f"core, UART {args.divisor} cycles per bit; building with Verilator if needed "
            "(about a minute the first time)",
            soft_wrap=True,
        )
    with sim:
        if args.quiet:
            print(sim.url, flush=True)
        else:
            chip_opt = f" --chip {args.chip}" if args.chip else ""
            console.print(f"listening on {sim.url}", soft_wrap=True)
            console.print(
                f"  spikemesh run NET.yaml -b board --board {args.board}{chip_opt} "
                f"--port {sim.url}",
                soft_wrap=True,
                markup=False,
            )
            console.print("Ctrl-C stops it.", soft_wrap=True)
        try:
            while sim.proc.poll() is None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            return 0
        code = sim.proc.returncode
        if code not in (0, -15):
            err = sim.proc.stderr.read().decode(errors="replace").strip()
            raise SpikemeshError(f"the simulated board stopped (exit {code}): {err}")
    return 0
