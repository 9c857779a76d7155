"""`make demo`: run an example network on every backend listed below and compare.

Each backend runs through the same code path as ``spikemesh run`` (the CLI's
backend registry and summary). The first backend is the reference; every other
one must reproduce its spike raster and state exactly (chip.md §9). To demo a
new backend, add its registry name to BACKENDS.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from spikemesh.cli import build_parser, print_summary, resolve_run_args, run_backend
from spikemesh.errors import SpikemeshError
from spikemesh.netfile import load_network

NETWORK = Path(__file__).with_name("synfire.yaml")
TICKS = 200
BACKENDS = [
    "golden",  # the reference: chip.md on the network itself
    "tlm",  # functional TLM on the compiled image
    "tlm-timed",  # cycle-level TLM through the host link
    "rtl",  # the Amaranth RTL on Verilator (the first run builds it, about a minute)
]


def main() -> int:
    console = Console(highlight=False)
    net = load_network(NETWORK)
    console.print(f"[bold]{NETWORK.name}[/bold]: {net!r}")
    # Exactly what `spikemesh run NETWORK --ticks TICKS` hands a backend.
    args = resolve_run_args(build_parser().parse_args(["run", str(NETWORK), "-t", str(TICKS)]))
    reference = timed = None
    for name in BACKENDS:
        try:
            result = run_backend(name, net, args.ticks, args)
        except SpikemeshError as e:
            console.print(f"[red]error[/red] on {name}: {e}")
            return 2
        print_summary(console, net, result)
        if reference is None:
            reference = result
            continue
        problems = reference.diff(result)
        verdict = "[green]identical[/green]" if not problems else "[red]DIFFERENT[/red]"
        console.print(
            f"{name} vs {reference.backend}: {verdict} ({', '.join(reference.compared(result))})",
            soft_wrap=True,
        )
        if result.cycles is not None:
            if timed is None:
                timed = result
            else:  # timed TLM and RTL must also agree on the cycles of every tick
                bad = timed.diff(result, cycles=True)
                same = "[green]identical[/green]" if not bad else "[red]DIFFERENT[/red]"
                console.print(
                    f"{name} vs {timed.backend}: cycles of every tick {same} "
                    f"(mean {result.cycles.mean():.1f} cycles/tick)",
                    soft_wrap=True,
                )
                problems = problems + bad
        for line in problems:
            console.print(f"  {line}")
        if problems:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
