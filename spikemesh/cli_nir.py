"""``spikemesh import`` and ``spikemesh export``: NIR files to and from network YAML.

``add_nir_commands(subparsers)`` adds both to the ``spikemesh`` parser; the handlers
take ``(args, console)`` and return an exit status like the other commands, and raise
:class:`~spikemesh.errors.SpikemeshError` on bad input (``cli.main`` prints
``error: ...`` and exits 2). docs/nir.md describes the options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .netfile import dump_network, load_network
from .nir_io import FLAVORS, import_nir, write_nir


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"dt must be a number of seconds, not {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"dt must be a positive number of seconds, not {text}")
    return value


def cmd_import(args, console) -> int:
    """``spikemesh import MODEL.nir -o NET.yaml``: write the network, print the report."""
    net, report = import_nir(
        Path(args.model),
        dt=args.dt,
        flavor=args.flavor,
        strict=args.strict,
        reset=args.reset,
    )
    Path(args.output).write_text(dump_network(net))
    if not args.quiet:
        console.print(report.format(), soft_wrap=True, markup=False, highlight=False)
        console.print(
            f"{net.name}: {net.num_neurons:,} neurons, {net.num_synapses:,} synapses, "
            f"{len(net.sources)} sources written to {args.output}",
            soft_wrap=True,
            markup=False,
        )
    return 0


def cmd_export(args, console) -> int:
    """``spikemesh export NET.yaml -o NET.nir``."""
    net = load_network(Path(args.network))
    write_nir(net, args.output, dt=args.dt)
    if not args.quiet:
        console.print(
            f"{net.name}: {len(net.populations)} populations, {len(net.projections)} "
            f"projections written to {args.output} (NIR, dt {args.dt:g} s)",
            soft_wrap=True,
            markup=False,
        )
    return 0


def add_nir_commands(subparsers) -> None:
    """Add ``import`` and ``export`` to the ``spikemesh`` command's subparsers."""
    imp = subparsers.add_parser("import", help="import a NIR graph (.nir) as a network file")
    imp.add_argument("model", metavar="MODEL.nir")
    imp.add_argument("--output", "-o", required=True, metavar="NET.yaml")
    imp.add_argument(
        "--dt",
        type=_positive_float,
        default=None,
        help="time step in seconds (default: the file's, else the flavor's)",
    )
    imp.add_argument(
        "--flavor",
        choices=sorted(FLAVORS),
        default="spec",
        help="how the file's numbers are meant: the NIR spec, or the framework that "
        "exported it (docs/nir.md)",
    )
    imp.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="refuse what the chip cannot express (default); --no-strict/--lenient maps it "
        "and reports the difference",
    )
    imp.add_argument("--lenient", dest="strict", action="store_false", help="same as --no-strict")
    imp.add_argument(
        "--reset",
        choices=("zero", "subtract"),
        default=None,
        help="the model's reset mechanism when the file cannot say (snnTorch: subtract)",
    )
    imp.add_argument("--quiet", "-q", action="store_true")
    imp.set_defaults(func=cmd_import)

    exp = subparsers.add_parser("export", help="export a network file as a NIR graph (.nir)")
    exp.add_argument("network", metavar="NET.yaml")
    exp.add_argument("--output", "-o", required=True, metavar="NET.nir")
    exp.add_argument(
        "--dt", type=_positive_float, default=1e-3, help="time step in seconds (default 1e-3)"
    )
    exp.add_argument("--quiet", "-q", action="store_true")
    exp.set_defaults(func=cmd_export)
