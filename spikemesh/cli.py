"""The ``spikemesh`` command line.

``spikemesh run NET.yaml --ticks T --backend golden|tlm|tlm-timed|rtl`` runs a
network file and prints a per-population summary (``--check OTHER`` runs a
second backend and diffs the two tick by tick); ``spikemesh compile`` writes a
chip image with a utilization report; ``spikemesh verilog`` writes the chip's
Verilog; ``spikemesh build --board B`` builds an FPGA bitstream; ``spikemesh
check-config CHIP.yaml`` validates a chip configuration and prints its
derived widths.

Backends are entries of :data:`BACKENDS`: a name mapped to a callable
``(network, ticks, args) -> Result``, where ``args`` is the parsed command line
(``args.acc_bits``, ``args.chip``). Adding one is one line::

    BACKENDS["tlm"] = lambda net, ticks, args: run_tlm(net, ticks, chip=args.chip)

Every :class:`~spikemesh.errors.SpikemeshError` is printed as ``error: <message>``
and exits with status 2, like an argparse usage error; there is no traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import __version__
from .config import ChipConfig
from .errors import SpikemeshError
from .golden import Result, run_golden
from .netfile import load_network
from .network import Network

Backend = Callable[[Network, int, argparse.Namespace], Result]


class _TickProgress:
    """A rich progress bar over ticks, shown on a terminal for runs of 200 ticks or more."""

    def __init__(self, args, ticks, label):
        self.bar = None
        if getattr(args, "progress", False) and ticks >= 200:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn(label),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} ticks"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.task = self.bar.add_task(label, total=ticks)
            self.bar.start()

    def __call__(self, done):
        if self.bar is not None:
            self.bar.update(self.task, completed=done)

    def close(self):
        if self.bar is not None:
            self.bar.stop()


def _run_golden(net, ticks, args):
    bar = _TickProgress(args, ticks, "golden")
    try:
        return run_golden(net, ticks, acc_bits=args.acc_bits, on_tick=bar)
    finally:
        bar.close()


def compile_for(net: Network, args):
    """Compile ``net`` for ``args.chip`` (auto-sized when none was given); cached on ``args``."""
    from spikemesh.firmware import auto_chip, compile_network

    cached = getattr(args, "_compiled", None)
    if cached is not None and cached[0] is net:
        return cached[1]
    chip = args.chip if args.chip is not None else auto_chip(net, acc_bits=args.acc_bits)
    image, util = compile_network(net, chip)
    args._compiled = (net, image, util)
    return image


def _run_tlm(net, ticks, args):
    from spikemesh.sim.chip import ChipModel

    image = compile_for(net, args)
    return ChipModel(image).run(
        ticks, net.input_raster(ticks), progress=getattr(args, "progress", False) and ticks >= 200
    )


def _run_tlm_timed(net, ticks, args):
    from spikemesh.firmware.loader import (
        config_commands,
        decode_run,
        read_state_commands,
        run_commands,
    )
    from spikemesh.sim.chip import TimedChipModel

    image = compile_for(net, args)
    inputs = net.input_raster(ticks)
    cmds = config_commands(image) + run_commands(image, inputs, ticks) + read_state_commands(image)
    bar = _TickProgress(args, ticks, "tlm-timed")
    try:
        rsp = TimedChipModel(image.chip).run(cmds, on_tick=bar)
    finally:
        bar.close()
    return decode_run(image, [r[1:] for r in rsp], ticks, inputs, backend="tlm-timed")


def _run_rtl(net, ticks, args):
    from spikemesh.firmware.rtl_loader import run_image_rtl

    image = compile_for(net, args)
    result, _ = run_image_rtl(
        image, net.input_raster(ticks), ticks, simulator=getattr(args, "simulator", "verilator")
    )
    return result


BACKENDS: dict[str, Backend] = {
    "golden": _run_golden,  # the reference: chip.md on the network itself
    "tlm": _run_tlm,  # functional TLM: the compiled image on the fast kernel
    "tlm-timed": _run_tlm_timed,  # cycle-level TLM through the host link, cycles per tick
    "rtl": _run_rtl,  # the Amaranth RTL under cocotb + Verilator, through the host link
}


class UsageError(SpikemeshError):
    """A command-line request that cannot be carried out (e.g. an unknown backend)."""


def get_backend(name: str) -> Backend:
    """The backend called ``name``, or a UsageError listing the known ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(
            f"unknown backend {name!r}; known backends are {', '.join(sorted(BACKENDS))}"
        ) from None


def run_backend(name: str, net: Network, ticks: int, args: argparse.Namespace) -> Result:
    """Run ``net`` on backend ``name``; the wall time is measured here for every backend."""
    backend = get_backend(name)
    t0 = time.perf_counter()
    result = backend(net, ticks, args)
    result.wall_time = time.perf_counter() - t0
    result.backend = name
    return result


def summary_rows(net: Network, result: Result) -> list[tuple[str, int, int, float]]:
    """(population, neurons, spikes, spikes per neuron per tick) for each population."""
    counts = result.spikes.sum(axis=0)
    ticks = max(result.ticks, 1)
    rows = []
    for p in net.populations:
        n_spk = int(counts[p.offset : p.offset + p.size].sum())
        rows.append((p.name, p.size, n_spk, n_spk / (p.size * ticks)))
    return rows


def print_summary(console, net: Network, result: Result, *, title: str | None = None):
    """The run summary as a rich table: per population, then the total and wall time."""
    from rich.table import Table

    table = Table(title=title or f"{net.name}: {result.ticks} ticks on {result.backend}")
    table.add_column("population")
    table.add_column("neurons", justify="right")
    table.add_column("spikes", justify="right")
    table.add_column("rate /neuron/tick", justify="right")
    rows = summary_rows(net, result)
    for name, n, spikes, rate in rows:
        table.add_row(name, f"{n:,}", f"{spikes:,}", f"{rate:.4f}")
    n_all = sum(r[1] for r in rows)
    s_all = sum(r[2] for r in rows)
    rate_all = s_all / (max(n_all, 1) * max(result.ticks, 1))
    table.add_section()
    table.add_row("total", f"{n_all:,}", f"{s_all:,}", f"{rate_all:.4f}", style="bold")
    console.print(table)
    line = f"{int(result.inputs.sum()):,} input spikes; wall time {result.wall_time:.3f} s"
    if result.cycles is not None:
        line += f"; {int(np.sum(result.cycles)):,} cycles"
    console.print(line, soft_wrap=True)


def plot_raster(net: Network, result: Result, path):
    """A spike raster (inputs on top when there are any) written as an image with Agg."""
    # Figure + its own Agg canvas, not pyplot: no global backend switch, no GUI.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    has_inputs = result.inputs.shape[1] > 0
    fig = Figure(figsize=(9, 5.5 if has_inputs else 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    if has_inputs:
        ax_in, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 3])
        t, i = np.nonzero(result.inputs)
        ax_in.plot(t, i, "|", color="0.4", markersize=3)
        ax_in.set_ylabel("input")
        ax_in.set_ylim(-0.5, result.inputs.shape[1] - 0.5)
    else:
        ax = fig.subplots()
    for k, p in enumerate(net.populations):
        t, i = np.nonzero(result.spikes[:, p.offset : p.offset + p.size])
        ax.plot(t, i + p.offset, "|", color=f"C{k % 10}", markersize=3, label=p.name)
        if p.offset:
            ax.axhline(p.offset - 0.5, color="0.8", linewidth=0.5)
    ax.set_xlim(-0.5, max(result.ticks, 1) - 0.5)
    ax.set_ylim(-0.5, max(net.num_neurons, 1) - 0.5)
    ax.set_xlabel("tick")
    ax.set_ylabel("neuron")
    if net.populations:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", markerscale=3)
    fig.suptitle(f"{net.name}: {result.backend}, {result.ticks} ticks")
    fig.savefig(path, dpi=100)


def resolve_run_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill in what a backend reads: ``args.chip`` loaded, ``args.acc_bits`` decided."""
    if isinstance(args.chip, (str, Path)):
        args.chip = ChipConfig.from_yaml(Path(args.chip))
    if args.acc_bits is None:
        args.acc_bits = args.chip.core.acc_bits if args.chip is not None else 24
    return args


def _cmd_run(args, console) -> int:
    resolve_run_args(args)
    get_backend(args.backend)  # fail on a typo before loading anything
    if args.check:
        get_backend(args.check)
    if args.progress is None:
        args.progress = sys.stderr.isatty() and not args.quiet
    net = load_network(Path(args.network))
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
    image, util = compile_network(
        net, chip, neurons_per_core=args.neurons_per_core, host_outputs=host_outputs
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


def _ticks(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ticks must be an integer, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"ticks must be >= 0, not {value}")
    return value


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
    run.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    run.add_argument(
        "--check",
        metavar="BACKEND",
        help="also run on BACKEND and compare the two tick by tick (exit 1 if they differ)",
    )
    run.add_argument(
        "--simulator",
        choices=("verilator", "icarus"),
        default="verilator",
        help="HDL simulator of the rtl backend (default verilator)",
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on long runs (default: on when stderr is a terminal)",
    )
    run.set_defaults(func=_cmd_run)

    comp = sub.add_parser("compile", help="compile a network into a chip image")
    comp.add_argument("network", metavar="NET.yaml")
    comp.add_argument(
        "--chip", metavar="CHIP.yaml", help="chip configuration (default: auto-sized)"
    )
    comp.add_argument("--output", "-o", required=True, metavar="NET.img")
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
