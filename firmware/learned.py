"""Loading and reading back a plastic image over the host link (docs/learning.md,
docs/hostlink.md): the learning chip an image needs, the CONFIG_WRITEs of its learning
tables, LEARN_FLUSH + READ_LEARNED after a run, and the words mapped back to what golden
and ``-b tlm`` report (``weights`` per projection, ``weight_labels``, ``pre_trace``,
``post_trace`` in ``Result.extra``).

Where a network synapse sits: the compiler sorts the synapses (``net.synapse_arrays``
order) stably by (destination tile, presynaptic element, group key) and lays each tile's run
out as its synapse memory (firmware/compiler.py ``build_tables``); :func:`synapse_places`
redoes that order and checks it against the image (target and weight of every synapse), so
a compiler that placed otherwise fails loudly here instead of mapping words wrongly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from spikemesh.config import bits_for
from spikemesh.errors import SpikemeshError
from spikemesh.hostlink import Cmd, Rsp
from spikemesh.layouts import (
    Region,
    config_addr,
    core_config_writes,
    learning_writes,
    region_layouts,
)
from spikemesh.plasticity import projection_label

from .learning import learn_ids
from .loader import command


def learning_chip(image):
    """``image.chip`` with learning cores: ``learning_profiles`` = the smallest power of two
    >= the most profiles a core of the image uses (reverse index as deep as the synapse
    memory)."""
    most = max(int(np.asarray(lt.learn_profiles).shape[0]) for lt in image.learning)
    lp = 1 << bits_for(most - 1) if most > 1 else 1
    core = dataclasses.replace(image.chip.core, learning_profiles=lp, reverse_entries=0)
    return dataclasses.replace(image.chip, core=core)


def _tile(chip, t):
    return {"tile_x": t % chip.width, "tile_y": t // chip.width}


def learning_config_commands(image, chip) -> list[dict]:
    """CONFIG_WRITEs that load every core of the plastic ``image`` into the learning
    ``chip``: the core's writes, then its learning tables (layouts.learning_writes)."""
    cmds = []
    for t, (core, lt) in enumerate(zip(image.cores, image.learning, strict=True)):
        writes = core_config_writes(chip, core) + learning_writes(chip, core, lt)
        cmds += [command(Cmd.CONFIG_WRITE, **_tile(chip, t), arg=a, data=d) for a, d in writes]
    return cmds


def synapse_places(net, image) -> tuple[np.ndarray, np.ndarray]:
    """(tile, synapse address) of every network synapse, in ``net.synapse_arrays`` order
    (the order of ``projections`` and of golden's ``weights``)."""
    chip = image.chip
    n = chip.core.neurons
    pre, post, w, e = net.synapse_arrays(compact=True)
    key = np.asarray(e, dtype=np.int64)
    if net.max_delay > 1:
        key = (np.asarray(net.synapse_delays(compact=True), dtype=np.int64) - 1) << 3 | key
    syn_learn, table = learn_ids(net)
    if table:
        key = syn_learn.astype(np.int64) << 7 | key
    slot = np.asarray(image.neuron_slot, dtype=np.int64)
    tile_of_neuron = slot // n
    npc = int(np.bincount(tile_of_neuron).max()) if slot.size else 1
    dtile = np.asarray(post, dtype=np.int64) // npc
    perm = np.lexsort((np.arange(pre.size), key, np.asarray(pre, dtype=np.int64), dtile))
    counts = np.bincount(dtile, minlength=chip.tiles)
    start = np.concatenate([[0], np.cumsum(counts)])
    tile = np.empty(pre.size, dtype=np.int64)
    addr = np.empty(pre.size, dtype=np.int64)
    tile[perm] = dtile[perm]
    addr[perm] = np.arange(pre.size) - start[dtile[perm]]
    for t, core in enumerate(image.cores):  # the image must agree, synapse for synapse
        sel = tile == t
        tgt = np.asarray(core.syn_target, dtype=np.int64)[addr[sel]]
        wt = np.asarray(core.syn_weight, dtype=np.int64)[addr[sel]]
        if (tgt != slot[post[sel]] % n).any() or (wt != np.asarray(w)[sel]).any():
            raise SpikemeshError(
                f"the image's core {t} does not hold the network's synapses where the "
                "compiler's order puts them (firmware/learned.py synapse_places): recompile"
            )
    return tile, addr


def _pre_axons(image):
    """Per presynaptic element (network neurons, then sources): its (tile, axon) pairs."""
    chip = image.chip
    n = chip.core.neurons
    out = []
    for s in np.asarray(image.neuron_slot, dtype=np.int64).tolist():
        t, i = divmod(s, n)
        core = image.cores[t]
        b, ln = int(core.fan_base[i]), int(core.fan_len[i])
        out.append([
            (int(core.fan_y[k]) * chip.width + int(core.fan_x[k]), int(core.fan_axon[k]))
            for k in range(b, b + ln)
        ])  # fmt: skip
    ptr = image.src_ptr
    for s in range(image.num_sources):
        out.append([
            (int(image.src_y[k]) * chip.width + int(image.src_x[k]), int(image.src_axon[k]))
            for k in range(int(ptr[s]), int(ptr[s + 1]))
        ])  # fmt: skip
    return out


@dataclasses.dataclass
class LearnedReads:
    """What :func:`learned_read_commands` asks, in order: ("syn", tile, address),
    ("pre", element, tile, axon) or ("post", neuron, tile, index) per READ_LEARNED."""

    what: list


def learned_read_commands(net, image, chip) -> tuple[list[dict], LearnedReads]:
    """LEARN_FLUSH (the last tick's learning), then READ_LEARNED of every synapse word of
    the plastic rows, one pre trace per presynaptic element with plastic synapses (its
    first plastic axon) and the post trace of every neuron with a post trace."""
    n = chip.core.neurons
    cmds, what = [command(Cmd.LEARN_FLUSH)], []

    def read(t, region, index, tag):
        cmds.append(
            command(Cmd.READ_LEARNED, **_tile(chip, t), arg=config_addr(chip, region, index))
        )
        what.append(tag)

    for t, (core, lt) in enumerate(zip(image.cores, image.learning, strict=True)):
        al = np.asarray(lt.axon_learn, dtype=np.int64)
        for a in np.flatnonzero(al).tolist():
            base, ln = int(core.axon_base[a]), int(core.axon_len[a])
            for k in range(base, base + ln):
                read(t, Region.SYNAPSE, k, ("syn", t, k))
    for p, axons in enumerate(_pre_axons(image)):
        plastic = [(t, a) for t, a in axons if image.learning[t].axon_learn[a]]
        if plastic:
            t, a = plastic[0]
            read(t, Region.PRETRACE, a, ("pre", p, t, a))
    for g, s in enumerate(np.asarray(image.neuron_slot, dtype=np.int64).tolist()):
        t, i = divmod(s, n)
        if image.learning[t].post_learn[i]:
            read(t, Region.POSTTRACE, i, ("post", g, t, i))
    return cmds, LearnedReads(what)


def decode_learned(net, image, chip, reads: LearnedReads, words) -> dict:
    """``Result.extra`` of a plastic run from the LEARNED words (in request order): the
    weights of every projection (network synapse order; fixed synapses keep their
    weights), their labels, and the stored traces (0 where no plastic synapse keeps one),
    as golden reports them."""
    words = list(words)
    if len(words) != len(reads.what):
        raise SpikemeshError(
            f"READ_LEARNED got {len(words)} answers, {len(reads.what)} were asked for"
        )
    lay = region_layouts(chip)
    syn_lay, pre_lay = lay[Region.SYNAPSE][0], lay[Region.PRETRACE][0]
    post_lay = lay[Region.POSTTRACE][0]
    mem = {}
    x_pre = np.zeros(image.num_neurons + image.num_sources, dtype=np.int64)
    x_post = np.zeros(image.num_neurons, dtype=np.int64)
    for tag, word in zip(reads.what, words, strict=True):
        if tag[0] == "syn":
            mem[(tag[1], tag[2])] = syn_lay.unpack(word)["weight"]
        elif tag[0] == "pre":
            x_pre[tag[1]] = pre_lay.unpack(word)["x"]
        else:
            x_post[tag[1]] = post_lay.unpack(word)["x"]
    tile, addr = synapse_places(net, image)
    _, _, w0, _ = net.synapse_arrays(compact=True)
    w = np.asarray(w0, dtype=np.int64).copy()
    for k, (t, a) in enumerate(zip(tile.tolist(), addr.tolist(), strict=True)):
        if (t, a) in mem:
            w[k] = mem[(t, a)]
    weights, k = [], 0
    for proj in net.projections:
        weights.append(w[k : k + len(proj)].astype(np.int8))
        k += len(proj)
    return {
        "weights": weights,
        "weight_labels": [projection_label(net, i) for i in range(len(net.projections))],
        "pre_trace": x_pre.astype(np.uint8),
        "post_trace": x_post.astype(np.uint8),
    }


def learned_words(responses) -> list[int]:
    """The ``b`` of every LEARNED response (op, a, b rows), in order."""
    rsp = np.asarray(responses, dtype=np.int64).reshape(-1, 3)
    return rsp[rsp[:, 0] == Rsp.LEARNED, 2].tolist()


PLASTIC_CHIP_BACKENDS = ("tlm-cycle", "tlm-timed", "rtl")


def run_plastic(net, image, inputs, ticks, *, backend, on_tick=None, runner="verilator"):
    """Run the plastic ``net`` (compiled to ``image``) on its learning chip: load over the
    host link (the core's writes and learning tables), run, read every neuron's state, then
    LEARN_FLUSH and READ_LEARNED. ``backend``: "tlm-cycle" (sim/chip.py TimedChipModel),
    "tlm-timed" (sim/timed.py CompiledChipModel, the same responses on the same cycles) or
    "rtl" (the RTL chip, firmware/rtl_loader.py run_rtl with ``runner``).

    Returns (Result, responses (cycle, op, a, b)); ``Result.extra`` adds what golden
    reports of a plastic run (``weights``, ``weight_labels``, ``pre_trace``,
    ``post_trace``).
    """
    from .learned_batch import decode_plastic, pack, plastic_commands
    from .loader import unpack_responses

    if backend not in PLASTIC_CHIP_BACKENDS:
        raise SpikemeshError(
            f"backend {backend!r} does not run a plastic image here; one of "
            f"{', '.join(PLASTIC_CHIP_BACKENDS)}"
        )
    chip = learning_chip(image)
    cmds, reads = plastic_commands(net, image, chip, inputs, ticks)
    if backend == "tlm-cycle":
        from spikemesh.sim.chip import TimedChipModel

        rsp = TimedChipModel(chip).run(cmds, on_tick=on_tick)
    elif backend == "tlm-timed":
        from spikemesh.sim.timed import CompiledChipModel, command_array, warm_up

        compile_s = warm_up()
        arr = CompiledChipModel(chip).run_array(
            command_array(cmds), on_tick=on_tick, max_cycles=1 << 40
        )  # a well-formed stream ends; one that cannot is reported as stuck
        rsp = [tuple(r) for r in arr.tolist()]
    else:
        from .rtl_loader import run_rtl

        case = {"seed": image.network_name, "words": pack(chip, cmds)}
        (got,) = run_rtl(chip, [case], runner=runner)
        rows = unpack_responses([w for _, w in got])
        rsp = [(int(cy), *(int(x) for x in r)) for (cy, _), r in zip(got, rows, strict=True)]
    rows = [(op, a, b) for _, op, a, b in rsp]
    result = decode_plastic(net, image, chip, reads, rows, ticks, inputs, backend=backend)
    if backend == "tlm-timed":
        result.extra["compile_s"] = compile_s
    return result, rsp
