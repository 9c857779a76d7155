"""Plastic runs as host-link command streams, and many plastic networks through one chip.

The sequence of a plastic run (docs/learning.md, "At chip level") is written here once as
data: :func:`plastic_commands` gives the commands (route tables, every core's writes and
learning tables, the run, READ_STATE of every neuron, LEARN_FLUSH, READ_LEARNED of every
plastic synapse word and kept trace; the pieces are firmware/learned.py's) and
:func:`decode_plastic` turns the responses back into the Result golden gives (spikes, final
u/v, cycles, and in ``extra`` the learned ``weights``, ``weight_labels``, ``pre_trace``,
``post_trace``). The Verilated chip (:func:`run_plastic_rtl`) and the board's UART
(firmware/board_learned.py) send the same words.

:func:`run_plastic_rtl` runs many networks on ONE learning chip: every image is compiled
for that chip (a fixed ``ChipConfig`` with ``learning_profiles`` enough for all of them),
and all runs go to one Verilator build (firmware/rtl_runner.py: the chip is reset before
each network, the next image loaded over the host link), so a regression of twenty
networks costs one build instead of twenty.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from spikemesh.errors import SpikemeshError
from spikemesh.hostlink import command_layout
from spikemesh.layouts import config_data_bits

from .learned import (
    decode_learned,
    learned_read_commands,
    learned_words,
    learning_config_commands,
)
from .loader import decode_run, read_state_commands, route_commands, run_commands


def _without_learning(chip):
    core = dataclasses.replace(chip.core, learning_profiles=0, reverse_entries=0)
    return dataclasses.replace(chip, core=core)


def check_learning_chip(image, chip) -> None:
    """Raise SpikemeshError unless ``chip`` is ``image.chip`` with learning cores that hold
    the image's learning profiles (the reverse index is checked by ``layouts.learning_writes``
    when the commands are made)."""
    if not chip.core.learning:
        raise SpikemeshError(
            "a plastic image runs on a chip of learning cores (core.learning_profiles > 0); "
            "this chip has none"
        )
    if _without_learning(image.chip) != _without_learning(chip):
        raise SpikemeshError(
            "the plastic image was compiled for another chip than the learning chip it is "
            "run on (mesh, core sizes or delays differ): compile it for that chip"
        )
    used = [int(np.asarray(lt.learn_profiles).shape[0]) for lt in image.learning]
    if max(used, default=0) > chip.core.learning_profiles:
        t = int(np.argmax(used))
        raise SpikemeshError(
            f"core {t} of the plastic image uses {used[t]} learning profiles, the chip's cores "
            f"hold {chip.core.learning_profiles} (core.learning_profiles)"
        )


def load_commands(image, chip) -> list[dict]:
    """Route tables, then every core's writes and learning tables (the plastic load)."""
    check_learning_chip(image, chip)
    return route_commands(image) + learning_config_commands(image, chip)


def plastic_commands(net, image, chip, inputs, ticks):
    """Every command of one plastic run of ``net`` (compiled to ``image``) on the learning
    ``chip``, in order: the load (:func:`load_commands`), the run, READ_STATE of every
    neuron, LEARN_FLUSH and READ_LEARNED (firmware/learned.py learned_read_commands).

    Returns (commands, LearnedReads).
    """
    read_cmds, reads = learned_read_commands(net, image, chip)
    cmds = (
        load_commands(image, chip)
        + run_commands(image, inputs, ticks)
        + read_state_commands(image)
        + read_cmds
    )
    return cmds, reads


def pack(chip, cmds) -> list[int]:
    """Command words of ``chip`` (a learning chip's config data is wider than its image's)."""
    lay = command_layout(chip, config_data_bits(chip))
    return [lay.pack(**c) for c in cmds]


def decode_plastic(net, image, chip, reads, rows, ticks, inputs, *, backend, state=None):
    """The Result of a plastic run from its (op, a, b) responses: decode_run's spikes, u/v
    and cycles, and in ``extra`` the learned weights and traces (decode_learned).
    ``state``: the final (u, v) per neuron when they came apart from ``rows``."""
    try:
        result = decode_run(image, rows, ticks, inputs, state=state, backend=backend)
        result.extra.update(decode_learned(net, image, chip, reads, learned_words(rows)))
    except SpikemeshError as e:
        raise SpikemeshError(f"the {backend} run's responses do not decode: {e}") from None
    return result


@dataclasses.dataclass
class PlasticRun:
    """One network of a batch: ``net`` compiled to ``image``, run ``ticks`` with ``inputs``;
    ``expected``: the timed model's [(cycle, op, a, b)], which the RTL must match word for
    word and cycle for cycle (None: not checked in the harness)."""

    net: object
    image: object
    inputs: np.ndarray
    ticks: int
    expected: list | None = None


def run_plastic_rtl(chip, runs, *, runner="verilator", build_dir=None):
    """Run every :class:`PlasticRun` on one RTL learning ``chip`` (one Verilator build; the
    chip reset before each network). Returns [(Result, [(cycle, op, a, b)])] per run.

    Raises HdlSimError (from firmware/rtl_loader.py run_rtl) when a response differs from
    a run's ``expected`` (the first one, with both values and the run's network name).
    """
    from spikemesh.hostlink import response_layout

    from .loader import unpack_responses
    from .rtl_loader import run_rtl

    rsp_lay = response_layout()
    cases, reads = [], []
    for r in runs:
        cmds, rd = plastic_commands(r.net, r.image, chip, r.inputs, r.ticks)
        expected = None
        if r.expected is not None:
            expected = [(cy, rsp_lay.pack(op=op, a=a, b=b)) for cy, op, a, b in r.expected]
        cases.append(
            {"seed": r.image.network_name, "words": pack(chip, cmds), "expected": expected}
        )
        reads.append(rd)
    observed = run_rtl(chip, cases, runner=runner, build_dir=build_dir)
    out = []
    for r, rd, got in zip(runs, reads, observed, strict=True):
        rows = [tuple(int(x) for x in row) for row in unpack_responses([w for _, w in got])]
        rsp = [(int(cy), *row) for (cy, _), row in zip(got, rows, strict=True)]
        result = decode_plastic(r.net, r.image, chip, rd, rows, r.ticks, r.inputs, backend="rtl")
        out.append((result, rsp))
    return out
