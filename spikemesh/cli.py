"""The ``spikemesh`` command line.

``spikemesh run NET.yaml --ticks T --backend golden|tlm|tlm-timed|rtl`` runs a
network file and prints a per-population summary (``--check OTHER`` runs a
second backend and diffs the two tick by tick); ``spikemesh compile`` writes a
chip image with a utilization report; ``spikemesh verilog`` writes the chip's
Verilog; ``spikemesh build --board B`` builds an FPGA bitstream; ``spikemesh
check-config CHIP.yaml`` validates a chip configuration and prints its
derived widths.

Backends are entries of :data:`spikemesh.backends.BACKENDS`: a name mapped to a
callable ``(network, ticks, args) -> Result``, where ``args`` is the parsed
command line; the summary and the raster plot are in :mod:`spikemesh.summary`.

Every :class:`~spikemesh.errors.SpikemeshError` is printed as ``error: <message>``
and exits with status 2, like an argparse usage error; there is no traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .backends import BACKENDS, TIMED, UsageError, compile_for, get_backend, run_backend
from .cli_board import add_board_arguments, add_board_sim_parser, board_args_used
from .cli_nir import add_nir_commands
from .cli_system import add_system_arguments, run_system_backend
from .config import ChipConfig
from .errors import SpikemeshError
from .hostlink import ARG_BITS
from .netfile import load_network
from .report import add_report_arguments, write_report
from .summary import cycle_stats, plot_raster, print_summary, summary_rows

__all__ = [
    "BACKENDS",
    "build_parser",
    "compile_for",
    "cycle_stats",
    "get_backend",
    "main",
    "plot_raster",
    "print_summary",
    "resolve_run_args",
    "run_backend",
    "summary_rows",
]


def resolve_run_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill in what a backend reads: ``args.chip`` loaded, ``args.acc_bits`` decided, and the
    timed options (--load, --runner, --simulator, --waves) checked against the backends."""
    if isinstance(args.chip, (str, Path)):
        args.chip = ChipConfig.from_yaml(Path(args.chip))
    if args.acc_bits is None:
        args.acc_bits = args.chip.core.acc_bits if args.chip is not None else 24
    used = [b for b in (getattr(args, "backend", None), getattr(args, "check", None)) if b]
    if getattr(args, "load", None) and not any(b in TIMED for b in used):
        raise UsageError(f"--load applies to the {', '.join(TIMED)} backends, not {used[0]}")
    rtl_only = [
        f"--{k.replace('_', '-')}"
        for k in ("runner", "waves", "waves_ticks")
        if getattr(args, k, None) is not None
    ]
    if rtl_only and "rtl" not in used:
        raise UsageError(f"{', '.join(rtl_only)} applies to the rtl backend only")
    board_only = board_args_used(args)
    if board_only and "board" not in used:
        raise UsageError(f"{', '.join(board_only)} applies to the board backend only")
    if getattr(args, "faults", None) is not None:
        if getattr(args, "system", None):
            raise UsageError("--faults applies to one chip, not a system of chips (--system)")
        if args.chip is not None:  # else _cmd_run reads it for the auto-sized chip
            from spikemesh.faults import fault_map_from_spec

            args.faults = fault_map_from_spec(args.faults, args.chip)
    if getattr(args, "system", None) and getattr(args, "check", None):
        raise UsageError("--check does not run on a system of chips (--system)")
    if getattr(args, "simulator", None) == "icarus":
        if getattr(args, "runner", None) == "verilator":
            raise UsageError("--simulator icarus runs under cocotb: use --runner cocotb")
        args.runner = "cocotb"
    window = getattr(args, "waves_ticks", None)
    if window is not None and getattr(args, "waves", None) is None:
        raise UsageError("--waves-ticks needs --waves FILE (.fst or .vcd)")
    if window is not None and window[1] >= getattr(args, "ticks", window[1] + 1):
        raise UsageError(
            f"--waves-ticks {window[0]}:{window[1]} is past the run's last tick ({args.ticks - 1})"
        )
    return args


def _faults_on_auto_chip(net, args, console) -> ChipConfig:
    """Without --chip, a fault map is read for the chip the network is auto-sized to (its
    tiles must lie on that mesh); the chip is named so the map can be written for it."""
    from spikemesh.faults import fault_map_from_spec
    from spikemesh.firmware import auto_chip

    chip = auto_chip(net, acc_bits=args.acc_bits)
    args.faults = fault_map_from_spec(args.faults, chip)
    if not getattr(args, "quiet", False):
        console.print(
            f"--faults: for the auto-sized {chip.width} x {chip.height} chip of "
            f"{chip.core.neurons}-neuron cores (give --chip for another)",
            soft_wrap=True,
        )
    return chip


def _cmd_run(args, console) -> int:
    resolve_run_args(args)
    get_backend(args.backend)  # fail on a typo before loading anything
    if args.check:
        get_backend(args.check)
    if args.progress is None:
        args.progress = sys.stderr.isatty() and not args.quiet
    net = load_network(Path(args.network))
    if getattr(args, "faults", None) is not None and args.chip is None:
        args.chip = _faults_on_auto_chip(net, args, console)
    if getattr(args, "system", None):
        t0 = time.perf_counter()
        result = run_system_backend(net, args.ticks, args)
        if result is None:  # an MPI rank other than 0: rank 0 reports
            return 0
        result.wall_time, result.backend = time.perf_counter() - t0, args.backend
    else:
        result = run_backend(args.backend, net, args.ticks, args)
    if args.check:
        return _check(console, net, result, args)
    if args.out:
        result.save(args.out, net)
    if args.plot:
        plot_raster(net, result, args.plot)
    if not args.quiet:
        print_summary(console, net, result)
        for what, path in (("results", args.out), ("raster", args.plot)):
            if path:
                console.print(f"{what} written to {path}", soft_wrap=True)
    write_report(args, net, None, result, console)  # the compiled image is cached on args
    return 0


def _check(console, net, result, args) -> int:
    """--check: run a second backend on the same network and diff the two tick by tick."""
    other = run_backend(args.check, net, args.ticks, args)
    if not args.quiet:
        print_summary(console, net, result)
        print_summary(console, net, other)
    cycles = result.cycles is not None and other.cycles is not None
    problems = result.diff(other, cycles=cycles)
    compared = ", ".join(result.compared(other, cycles=cycles))
    if problems:
        console.print(f"[red]{args.backend} and {args.check} DIFFER[/red] (compared {compared}):")
        for line in problems:
            console.print(f"  {line}", soft_wrap=True)
        return 1
    console.print(
        f"[green]{args.backend} and {args.check} agree[/green]: {compared}", soft_wrap=True
    )
    return 0


def _cmd_compile(args, console) -> int:
    from spikemesh.firmware import auto_chip, compile_network

    net = load_network(Path(args.network))
    chip = (
        ChipConfig.from_yaml(Path(args.chip))
        if args.chip
        else auto_chip(net, acc_bits=args.acc_bits or 24)
    )
    host_outputs = args.host_outputs
    if host_outputs not in ("all", "recorded", "none"):
        host_outputs = [p.strip() for p in host_outputs.split(",") if p.strip()]
    faults = None
    if args.faults:  # without --chip: a map for the auto-sized chip
        from spikemesh.faults import chip_for_faults, fault_map_from_spec

        faults = fault_map_from_spec(args.faults, chip)
        chip = chip_for_faults(chip, faults)
    image, util = compile_network(
        net, chip, neurons_per_core=args.neurons_per_core, host_outputs=host_outputs, faults=faults
    )
    image.save(args.output)
    if not args.quiet:
        if not args.chip:
            console.print(
                f"auto-sized chip: {chip.width} x {chip.height} cores ({chip.core.to_dict()})",
                soft_wrap=True,
            )
        console.print(util.report(), soft_wrap=True, markup=False)
        console.print(
            f"image written to {args.output} ({Path(args.output).stat().st_size:,} bytes, "
            f"compiled in {util.compile_time:.3f} s)",
            soft_wrap=True,
        )
    return 0


def _cmd_verilog(args, console) -> int:
    from amaranth.back import verilog

    from spikemesh.rtl.chip import Chip

    chip = ChipConfig.from_yaml(Path(args.chip)) if args.chip else ChipConfig()
    text = verilog.convert(Chip(chip), name=args.name, emit_src=False)
    Path(args.output).write_text(text)
    if not args.quiet:
        console.print(
            f"{args.name}: {chip.width} x {chip.height} chip, {len(text):,} bytes of "
            f"Verilog written to {args.output}",
            soft_wrap=True,
        )
    return 0


def _cmd_build(args, console) -> int:
    from spikemesh.firmware.build import build_board, format_report

    chip = ChipConfig.from_yaml(Path(args.chip)) if args.chip else None
    if not args.quiet:
        console.print(
            f"building {args.board} with yosys + nextpnr (YoWASP); the first run "
            "compiles the tools' WebAssembly (~1 min)",
            soft_wrap=True,
        )
    report = build_board(
        args.board,
        chip,
        args.output,
        design=args.design,
        seed=args.seed,
        allow_timing_fail=args.allow_timing_fail,
    )
    if not args.quiet:
        console.print(format_report(report), soft_wrap=True, markup=False)
    return 0


def config_rows(chip: ChipConfig) -> list[tuple[str, str]]:
    """(name, value) for every field of ``chip`` and every width derived from it."""
    c = chip.core
    rows = [
        ("mesh", f"{chip.width} x {chip.height} ({chip.tiles} tiles)"),
        ("neurons", f"{chip.neurons:,} ({c.neurons} per core)"),
        ("core.axons", f"{c.axons:,}"),
        ("core.synapses", f"{c.synapses:,}"),
        ("core.fanout", f"{c.fanout:,}"),
        ("core.profiles", str(c.profiles)),
        ("core.acc_bits", f"{c.acc_bits} (range {c.acc_range[0]:,}..{c.acc_range[1]:,})"),
        ("core.max_delay", f"{c.max_delay} ({c.acc_banks} accumulator banks)"),
        ("router.fifo_depth", str(chip.router.fifo_depth)),
        ("host_fifo_depth", str(chip.host_fifo_depth)),
        ("watchdog_cycles", f"{chip.watchdog_cycles:,}"),
        ("x_bits / y_bits", f"{chip.x_bits} / {chip.y_bits}"),
        ("neuron_bits", str(c.neuron_bits)),
        ("axon_bits", str(c.axon_bits)),
        ("synapse_addr_bits", str(c.synapse_addr_bits)),
        ("fanout_addr_bits", str(c.fanout_addr_bits)),
        ("profile_bits", str(c.profile_bits)),
    ]
    flit = chip.flit_layout
    fields = ", ".join(f"{f.name}:{'s' if f.signed else 'u'}{f.width}" for f in flit.fields)
    rows.append(("flit", f"{flit.width} bits ({fields}, LSB first)"))
    return rows


def _cmd_check_config(args, console) -> int:
    from rich.table import Table

    chip = ChipConfig.from_yaml(Path(args.config))
    table = Table(title=f"{Path(args.config).name}: valid ChipConfig")
    table.add_column("field")
    table.add_column("value")
    for name, value in config_rows(chip):
        table.add_row(name, value)
    console.print(table)
    return 0


MAX_TICKS = (1 << ARG_BITS) - 1


def _ticks(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ticks must be an integer, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"ticks must be >= 0, not {value}")
    if value > MAX_TICKS:
        raise argparse.ArgumentTypeError(
            f"ticks must be at most {MAX_TICKS:,} (the host link's RUN counts ticks in "
            f"{ARG_BITS} bits), not {value:,}"
        )
    return value


def _tick_window(text):
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a tick window is A:B with integers A <= B, not {text!r}"
        ) from None
    if not 0 <= a <= b:
        raise argparse.ArgumentTypeError(f"a tick window needs 0 <= A <= B, not {a}:{b}")
    return (a, b)


FAULTS_HELP = (
    "dead links, routers and cores (a fault map YAML, docs/noc.md 'Faults', or "
    "random:SEED:LINKS[:ROUTERS]): neurons go on live cores, flits around the faults"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikemesh", description="Run networks on the spikemesh chip models."
    )
    parser.add_argument("--version", action="version", version=f"spikemesh {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a network file and print a summary")
    run.add_argument("network", metavar="NET.yaml", help="network file (docs/network-format.md)")
    run.add_argument("--ticks", "-t", type=_ticks, default=100, help="ticks to run (default 100)")
    run.add_argument(
        "--backend",
        "-b",
        default="golden",
        help=f"model to run on: {', '.join(sorted(BACKENDS))} (default golden)",
    )
    run.add_argument("--out", "-o", metavar="FILE.npz", help="save the results (.npz)")
    run.add_argument("--plot", metavar="FILE.png", help="save a spike raster image")
    run.add_argument(
        "--acc-bits",
        type=int,
        default=None,
        help="accumulator width, 16..32 (default: the chip's, else 24)",
    )
    run.add_argument("--chip", metavar="CHIP.yaml", help="chip configuration (ChipConfig YAML)")
    run.add_argument("--faults", metavar="FAULTS.yaml", default=None, help=FAULTS_HELP)
    run.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    run.add_argument(
        "--check",
        metavar="BACKEND",
        help="also run on BACKEND and compare the two tick by tick (exit 1 if they differ)",
    )
    run.add_argument(
        "--load",
        choices=("direct", "hostlink"),
        default=None,
        help="tlm-timed/tlm-cycle/rtl: place the image in the memories before cycle 0 "
        "(direct, the default) or write it through the host link's CONFIG_WRITE commands",
    )
    run.add_argument(
        "--runner",
        choices=("verilator", "cocotb"),
        default=None,
        help="rtl: Verilator driven by a compiled C++ harness (default), or cocotb",
    )
    run.add_argument(
        "--simulator",
        choices=("verilator", "icarus"),
        default=None,
        help="rtl with --runner cocotb: the HDL simulator (default verilator; icarus "
        "implies --runner cocotb)",
    )
    run.add_argument(
        "--waves",
        metavar="FILE",
        default=None,
        help="rtl: write waveforms (.fst, or .vcd) of the run (docs/waves.md)",
    )
    run.add_argument(
        "--waves-ticks",
        metavar="A:B",
        type=_tick_window,
        default=None,
        help="rtl with --waves: dump only ticks A to B (inclusive)",
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on long runs (default: on when stderr is a terminal)",
    )
    add_board_arguments(run)
    add_system_arguments(run)
    add_report_arguments(run)
    run.set_defaults(func=_cmd_run)

    comp = sub.add_parser("compile", help="compile a network into a chip image")
    comp.add_argument("network", metavar="NET.yaml")
    comp.add_argument(
        "--chip", metavar="CHIP.yaml", help="chip configuration (default: auto-sized)"
    )
    comp.add_argument("--output", "-o", required=True, metavar="NET.img")
    comp.add_argument("--faults", metavar="FAULTS.yaml", default=None, help=FAULTS_HELP)
    comp.add_argument(
        "--neurons-per-core",
        type=int,
        default=None,
        help="place at most this many neurons on a core",
    )
    comp.add_argument(
        "--host-outputs",
        default="all",
        help="all, recorded, none, or comma-separated population names",
    )
    comp.add_argument(
        "--acc-bits", type=int, default=None, help="accumulator width of an auto chip"
    )
    comp.add_argument("--quiet", "-q", action="store_true")
    comp.set_defaults(func=_cmd_compile)

    ver = sub.add_parser("verilog", help="write the chip as Verilog")
    ver.add_argument("--chip", metavar="CHIP.yaml", help="chip configuration (default: 2 x 2)")
    ver.add_argument("--output", "-o", required=True, metavar="chip.v")
    ver.add_argument("--name", default="spikemesh_chip", help="top module name")
    ver.add_argument("--quiet", "-q", action="store_true")
    ver.set_defaults(func=_cmd_verilog)

    from spikemesh.rtl.boards import BOARDS

    bld = sub.add_parser("build", help="build an FPGA bitstream for a board (yosys + nextpnr)")
    bld.add_argument("--board", required=True, choices=sorted(BOARDS))
    bld.add_argument("--chip", metavar="CHIP.yaml", help="chip configuration (ChipConfig YAML)")
    bld.add_argument(
        "--output",
        "-o",
        metavar="DIR",
        default=None,
        help="build directory (default build/<board>)",
    )
    bld.add_argument(
        "--design",
        choices=("chip", "loopback"),
        default="chip",
        help="loopback: the test-only UART echo design instead of the chip",
    )
    bld.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    bld.add_argument(
        "--allow-timing-fail",
        action="store_true",
        help="keep the bitstream when Fmax is below the board clock",
    )
    bld.add_argument("--quiet", "-q", action="store_true")
    bld.set_defaults(func=_cmd_build)

    add_nir_commands(sub)
    add_board_sim_parser(sub)

    chk = sub.add_parser("check-config", help="validate a chip configuration, show derived widths")
    chk.add_argument("config", metavar="CHIP.yaml")
    chk.set_defaults(func=_cmd_check_config)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``spikemesh`` script; returns the exit status."""
    from rich.console import Console

    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    try:
        return args.func(args, console)
    except SpikemeshError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output file that cannot be written, a config that cannot be read
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
