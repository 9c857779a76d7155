"""``spikemesh run NET --backend tlm|tlm-timed --system SYSTEM``: a system of chips, across MPI.

``mpirun -n R spikemesh run NET.yaml --backend tlm --system system.yaml`` compiles the
network for the system on every rank (the compiler is deterministic; the ranks check that
they hold the same image) and runs it with :func:`spikemesh.sim.distributed.run_system`.
``--system`` takes a SystemConfig YAML or a compiled system image
(``SystemImage.save``), of which each rank reads only its own chips. Without mpirun it
runs in one process. ``--backend tlm-timed`` runs the timed model of the system
(:func:`spikemesh.sim.distributed_timed.run_system_timed_mpi`: the chips' cycle twins and
the chip-to-chip links, cycle-exact from any number of ranks; docs/scale.md).

Rank 0 returns the Result and does all the printing; the other ranks return None and
print nothing. An error that every rank sees (a mismatched launch) is printed by rank 0
only: the other ranks leave with exit status 2 and no message.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import SpikemeshError
from .golden import Result
from .network import Network


class SystemUsageError(SpikemeshError):
    """A command line that cannot run on a system of chips."""


def add_system_arguments(run_parser: argparse.ArgumentParser) -> None:
    """Add ``--system FILE`` to the ``run`` subcommand's parser."""
    run_parser.add_argument(
        "--system",
        metavar="SYSTEM",
        default=None,
        help="tlm or tlm-timed: run on a system of chips, a SystemConfig YAML or a compiled system "
        "image; under mpirun -n R the chips are shared among the R ranks (docs/scale.md)",
    )


def _is_image(path: Path) -> bool:
    from spikemesh.firmware.system import MAGIC

    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def _system_image(net: Network, path: Path):
    """The SystemImage to run: loaded lazily from an image file, else compiled from YAML."""
    from spikemesh.firmware.system import SystemImage, compile_system
    from spikemesh.system import SystemConfig

    if not path.exists():
        raise SystemUsageError(f"--system file {path} does not exist")
    if _is_image(path):
        head = SystemImage.load(path, chips=[])
        if (head.num_neurons, head.num_sources) != (net.num_neurons, net.num_sources):
            raise SystemUsageError(
                f"{path} was compiled for a network of {head.num_neurons:,} neurons and "
                f"{head.num_sources:,} sources; {net.name} has {net.num_neurons:,} and "
                f"{net.num_sources:,}"
            )
        return path
    system = SystemConfig.from_yaml(path)
    image, _ = compile_system(net, system)
    return image


def run_system_backend(net: Network, ticks: int, args: argparse.Namespace) -> Result | None:
    """Run ``net`` on ``args.system``; the Result on rank 0, None on the other ranks.

    Reads ``args.system``, ``args.backend`` (must be tlm), ``args.chip`` (must be unset),
    ``args.progress``.
    """
    from spikemesh.sim.distributed import DistributedError, run_system, world
    from spikemesh.sim.timed_links import TimedSystemError

    comm = world()
    try:
        backend = getattr(args, "backend", "tlm")
        if backend not in ("tlm", "tlm-timed"):
            raise SystemUsageError(
                "--system runs the functional model (--backend tlm) or the timed one "
                f"(--backend tlm-timed), not {backend}"
            )
        if getattr(args, "chip", None) is not None:
            raise SystemUsageError(
                "--chip and --system exclude each other (the system names its chip)"
            )
        image = _system_image(net, Path(args.system))
        if backend == "tlm-timed":
            from spikemesh.sim.distributed_timed import run_system_timed_mpi

            return run_system_timed_mpi(
                image,
                net.input_raster(ticks),
                ticks,
                comm=comm,
                progress=bool(getattr(args, "progress", False)) and ticks >= 200,
            )
        return run_system(
            image,
            net.input_raster(ticks),
            ticks,
            comm=comm,
            progress=bool(getattr(args, "progress", False)) and ticks >= 200,
        )
    except (DistributedError, SystemUsageError, TimedSystemError) as e:
        # Every rank raised the same error: let rank 0 say it.
        if comm.rank != 0:
            raise SystemExit(2) from e
        raise
