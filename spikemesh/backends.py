"""The run backends of ``spikemesh run``: a name mapped to ``(network, ticks, args) -> Result``.

``args`` is the parsed command line (``args.acc_bits``, ``args.chip``, ``args.load``, ...).
Adding a backend is one line::

    BACKENDS["tlm"] = lambda net, ticks, args: run_tlm(net, ticks, chip=args.chip)

| backend | what runs |
|---|---|
| golden | the reference: chip.md on the network itself |
| tlm | the compiled image on the fast functional TLM |
| tlm-timed | the compiled cycle-exact chip model (numba), cycles per tick |
| tlm-cycle | the Python cycle-level twins (the readable specification; slow) |
| rtl | the Amaranth RTL on Verilator (a compiled C++ harness; ``--runner cocotb``) |
| board | a board's bitstream over its UART (``--port``; ``spikemesh board-sim``) |
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from .cli_board import run_board_backend
from .errors import SpikemeshError
from .golden import Result, run_golden
from .network import Network

Backend = Callable[[Network, int, argparse.Namespace], Result]

# The backends that run the chip cycle by cycle, and so take --load.
TIMED = ("tlm-timed", "tlm-cycle", "rtl")
# The backends whose chip gets hardware counters (counter_bits = COUNTER_BITS) for a report:
# they are read over the host link after the last tick (docs/counters.md, "Reading them").
HW_COUNTER_BACKENDS = ("tlm-timed", "tlm-cycle", "rtl")


def hw_counters_wanted(args) -> bool:
    """A report was asked of a backend that reads the chip's hardware counters."""
    from .report import wants_report

    return getattr(args, "backend", None) in HW_COUNTER_BACKENDS and wants_report(args)


class UsageError(SpikemeshError):
    """A command-line request that cannot be carried out (e.g. an unknown backend)."""


class TickProgress:
    """A rich progress bar over ticks (ticks/s, and cycles/s on timed backends).

    Shown for runs of 200 ticks or more when ``args.progress`` is set. Called
    with the number of ticks done and, on timed backends, the cycles so far.
    """

    def __init__(self, args, ticks, label):
        self.bar = None
        if getattr(args, "progress", False) and ticks >= 200:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn(label),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} ticks"),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.task = self.bar.add_task(label, total=ticks, rate="")
            self.t0 = time.perf_counter()
            self.bar.start()

    def __call__(self, done, cycles=None):
        if self.bar is None:
            return
        dt = max(time.perf_counter() - self.t0, 1e-9)
        rate = f"{done / dt:,.0f} ticks/s"
        if cycles is not None:
            rate += f", {cycles / dt / 1e6:,.2f} M cycles/s"
        self.bar.update(self.task, completed=done, rate=rate)

    def close(self):
        if self.bar is not None:
            self.bar.stop()


def _run_golden(net, ticks, args):
    bar = TickProgress(args, ticks, "golden")
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
    if hw_counters_wanted(args) and not chip.counter_bits:
        # the counters add registers only: the same spikes and cycles (docs/counters.md)
        import dataclasses

        from .counters import COUNTER_BITS

        chip = dataclasses.replace(chip, counter_bits=COUNTER_BITS)
    faults = getattr(args, "faults", None)
    if faults is not None:
        from spikemesh.faults import chip_for_faults, fault_map_from_spec

        faults = fault_map_from_spec(faults, chip)
        chip = chip_for_faults(chip, faults)  # dead links or routers: routers with tables
    image, util = compile_network(net, chip, faults=faults)
    args._compiled = (net, image, util)
    return image


def _run_tlm(net, ticks, args):
    from spikemesh.sim.chip import ChipModel

    image = compile_for(net, args)
    return ChipModel(image).run(
        ticks, net.input_raster(ticks), progress=getattr(args, "progress", False) and ticks >= 200
    )


def _timed(model, label):
    def run(net, ticks, args):
        from spikemesh.sim.timed import run_image_timed

        image = compile_for(net, args)
        bar = TickProgress(args, ticks, label)
        try:
            result, _ = run_image_timed(
                image,
                net.input_raster(ticks),
                ticks,
                load=getattr(args, "load", None) or "direct",
                model=model,
                on_tick=bar,
                counters=None if image.chip.counter_bits else False,
            )
        finally:
            bar.close()
        return result

    return run


def _run_rtl(net, ticks, args):
    from spikemesh.firmware.rtl_loader import run_image_rtl

    image = compile_for(net, args)
    result, _ = run_image_rtl(
        image,
        net.input_raster(ticks),
        ticks,
        runner=getattr(args, "runner", None) or "verilator",
        load=getattr(args, "load", None) or "direct",
        simulator=getattr(args, "simulator", None) or "verilator",
        waves=getattr(args, "waves", None),
        waves_ticks=getattr(args, "waves_ticks", None),
        counters=None if image.chip.counter_bits else False,
    )
    return result


BACKENDS: dict[str, Backend] = {
    "golden": _run_golden,  # the reference: chip.md on the network itself
    "tlm": _run_tlm,  # functional TLM: the compiled image on the fast kernel
    "tlm-timed": _timed("compiled", "tlm-timed"),  # compiled cycle-exact model
    "tlm-cycle": _timed("python", "tlm-cycle"),  # the Python cycle-level twins
    "rtl": _run_rtl,  # the Amaranth RTL on Verilator
    "board": run_board_backend,  # an FPGA board (or the simulated one) over its UART
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``, or a UsageError listing the known ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(
            f"unknown backend {name!r}; known backends are {', '.join(sorted(BACKENDS))}"
        ) from None


# Backends that run learning (docs/learning.md): golden and -b tlm from the network,
# tlm-cycle, tlm-timed and rtl from the image on a chip of learning cores
# (firmware/learned.py), board on a board built with one (firmware/board_learned.py).
PLASTIC_BACKENDS = ("golden", "tlm", "tlm-cycle", "tlm-timed", "rtl", "board")


def _run_plastic_chip(name):
    def run(net, ticks, args):
        from spikemesh.firmware.learned import run_plastic

        image = compile_for(net, args)
        bar = TickProgress(args, ticks, name)
        try:
            result, _ = run_plastic(
                net,
                image,
                net.input_raster(ticks),
                ticks,
                backend=name,
                on_tick=bar,
                runner=getattr(args, "runner", None) or "verilator",
            )
        finally:
            bar.close()
        return result

    return run


def run_backend(name: str, net: Network, ticks: int, args: argparse.Namespace) -> Result:
    """Run ``net`` on backend ``name``; the wall time is measured here for every backend."""
    backend = get_backend(name)
    if net.plastic:
        if name not in PLASTIC_BACKENDS:
            raise UsageError(
                f"backend {name!r} cannot run a plastic network: plasticity runs on "
                f"{', '.join(PLASTIC_BACKENDS)} so far (docs/learning.md)"
            )
        if name in ("tlm-cycle", "tlm-timed", "rtl"):  # the image on learning cores
            backend = _run_plastic_chip(name)
        if name == "tlm":  # the network's own CSR: chip images carry no learning state yet
            from spikemesh.sim.fast import run_fast

            backend = lambda net, ticks, args: run_fast(
                net, ticks, acc_bits=args.acc_bits, progress=getattr(args, "progress", False)
            )
    t0 = time.perf_counter()
    result = backend(net, ticks, args)
    result.wall_time = time.perf_counter() - t0
    result.backend = name
    return result
