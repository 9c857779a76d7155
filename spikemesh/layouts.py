"""The neuron core's memory words and configuration address map, defined once.

Every memory of ``rtl/core.py::Core`` stores one of the :class:`~spikemesh.bitfields.Layout`
words below; the configuration path writes whole words. ``sim/core.py::CoreModel``
decodes the same writes with :func:`decode_config_write`, and the firmware loaders
turn a :class:`~spikemesh.coreimage.CoreImage` into writes with
:func:`core_config_writes`. ``docs/core.md`` is generated from this module by
:func:`core_markdown`, so the tables cannot drift from the RTL.

Configuration address (``config_addr_bits(chip)`` bits)::

    addr = region << index_bits | index

``region`` is one of :class:`Region`; ``index`` is the word index inside that
memory. A configuration write always writes a whole word; the data word is
``config_data_bits(chip)`` bits wide and carries the region's layout in its
least significant bits (unused high bits must be zero).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from .bitfields import Layout
from .config import (
    BIAS_EXP_BITS,
    BIAS_MANT_BITS,
    DU_BITS,
    DV_BITS,
    REFRACT_BITS,
    RESET_BITS,
    STATE_BITS,
    VTH_BITS,
    WEIGHT_BITS,
    WEIGHT_EXP_BITS,
    ChipConfig,
    CoreConfig,
    bits_for,
)
from .coreimage import PROFILE_COLUMNS, CoreImage
from .plasticity import AMP_BITS, DECAY_BITS, SHIFT_BITS, TRACE_BITS

REGION_BITS = 3  # region field of a core without learning (Region 0..6, ROUTE 7)
LEARN_REGION_BITS = 4  # with learning (CoreConfig.learning_profiles): regions 8..12 too


class Region(enum.IntEnum):
    """Configuration regions: one per core memory."""

    NEURON = 0  # neuron state + profile index, N words
    PROFILE = 1  # neuron parameter profiles, P words
    AXON = 2  # axon table, A words
    SYNAPSE = 3  # synapse memory, S words
    FANPTR = 4  # per-neuron fan-out list pointer + host_out flag, N words
    FANOUT = 5  # fan-out entries, F words
    # dendritic accumulators, (D + 1) N words: index = bank << neuron_bits | neuron, bank =
    # tick mod (D + 1) (the tick parity for D = 1: 2N words)
    ACC = 6
    # On-chip learning (CoreConfig.learning_profiles > 0, docs/learning.md "Hardware plan");
    # a learning core's address has LEARN_REGION_BITS of region (ROUTE stays 7).
    LPROFILE = 8  # learning profiles, L words
    PRETRACE = 9  # per axon: pre trace, fired-this-tick bit, learning profile, A words
    POSTTRACE = 10  # per neuron: post trace, fired bit, learning profile, N words
    REVPTR = 11  # per neuron: its reverse-index row (base, len), N words
    REVERSE = 12  # reverse-index entries: synapse address and axon id, R words


# --- memory words -------------------------------------------------------------


def neuron_layout(core: CoreConfig) -> Layout:
    """Neuron state memory word: u, v, refractory counter and the profile index."""
    return Layout(
        "NeuronWord",
        [
            ("u", STATE_BITS, True),
            ("v", STATE_BITS, True),
            ("ref", REFRACT_BITS),
            ("profile", core.profile_bits),
        ],
    )


def profile_layout() -> Layout:
    """One neuron parameter profile (chip.md §3)."""
    return Layout(
        "ProfileWord",
        [
            ("du", DU_BITS),
            ("dv", DV_BITS),
            ("vth", VTH_BITS),
            ("bias_mant", BIAS_MANT_BITS, True),
            ("bias_exp", BIAS_EXP_BITS),
            ("refractory", REFRACT_BITS),
            ("reset", RESET_BITS),  # 0 = zero, 1 = subtract (docs/semantics.md)
        ],
    )


def axon_layout(core: CoreConfig) -> Layout:
    """Axon table word: the axon's synapse row, its weight exponent and, on a core with
    delays (``max_delay`` D > 1), its synaptic delay d as d - 1 (``delay_bits`` wide; a
    D = 1 core has no delay field, so its word is the word of a chip without delays)."""
    fields = [
        ("base", core.synapse_addr_bits),
        ("len", bits_for(core.synapses)),
        ("exp", WEIGHT_EXP_BITS),
    ]
    if core.delay_bits:
        fields.append(("delay", core.delay_bits))
    return Layout("AxonWord", fields)


def synapse_layout(core: CoreConfig) -> Layout:
    """Synapse memory word: target neuron and 8-bit signed weight; on a learning core also
    the plastic flag and the synapse's learning profile (its projection's)."""
    fields = [("target", core.neuron_bits), ("weight", WEIGHT_BITS, True)]
    if core.learning:
        fields += [("plastic", 1), ("lprofile", core.lprofile_bits)]
    return Layout("SynapseWord", fields)


def lprofile_layout() -> Layout:
    """One learning profile (spikemesh.plasticity.LearningProfile, same field names)."""
    return Layout(
        "LearnProfileWord",
        [
            ("a_plus", AMP_BITS),
            ("a_plus_shift", SHIFT_BITS),
            ("a_minus", AMP_BITS),
            ("a_minus_shift", SHIFT_BITS),
            ("pre_inc", TRACE_BITS),
            ("pre_decay", DECAY_BITS),
            ("post_inc", TRACE_BITS),
            ("post_decay", DECAY_BITS),
            ("w_min", WEIGHT_BITS, True),
            ("w_max", WEIGHT_BITS, True),
        ],
    )


def trace_layout(core: CoreConfig, name: str) -> Layout:
    """A stored trace (7 bits, X of docs/learning.md), the element's fired-this-tick bit
    and the learning profile whose inc / decay commit it (PreTraceWord per axon,
    PostTraceWord per neuron)."""
    return Layout(name, [("x", TRACE_BITS), ("fired", 1), ("lprofile", core.lprofile_bits)])


def revptr_layout(core: CoreConfig) -> Layout:
    """Per neuron: its row of the reverse index (the plastic synapses that end on it)."""
    return Layout(
        "RevPtrWord",
        [("base", core.reverse_addr_bits), ("len", bits_for(core.reverse_depth))],
    )


def reverse_layout(core: CoreConfig) -> Layout:
    """Reverse-index entry: a plastic synapse's address and the axon whose row holds it."""
    return Layout("ReverseWord", [("synapse", core.synapse_addr_bits), ("axon", core.axon_bits)])


def fanptr_layout(core: CoreConfig) -> Layout:
    """Per-neuron fan-out pointer: the neuron's fan-out list and its host_out flag."""
    return Layout(
        "FanPtrWord",
        [
            ("base", core.fanout_addr_bits),
            ("len", bits_for(core.fanout)),
            ("host_out", 1),
        ],
    )


def fanout_layout(chip: ChipConfig) -> Layout:
    """Fan-out entry: destination tile and the axon id there."""
    return Layout(
        "FanoutWord",
        [("x", chip.x_bits), ("y", chip.y_bits), ("axon", chip.core.axon_bits)],
    )


def acc_layout(core: CoreConfig) -> Layout:
    """Dendritic accumulator word (modular, chip.md §4)."""
    return Layout("AccWord", [("a", core.acc_bits, True)])


def read_layout() -> Layout:
    """Payload of the state read-back stream ``o_read``."""
    return Layout("StateRead", [("u", STATE_BITS, True), ("v", STATE_BITS, True)])


@functools.lru_cache(maxsize=32)
def region_layouts(chip: ChipConfig) -> Mapping:
    """Region -> (word layout, depth); read-only and cached (the loaders ask per word)."""
    c = chip.core
    return MappingProxyType(
        {
            Region.NEURON: (neuron_layout(c), c.neurons),
            Region.PROFILE: (profile_layout(), c.profiles),
            Region.AXON: (axon_layout(c), c.axons),
            Region.SYNAPSE: (synapse_layout(c), c.synapses),
            Region.FANPTR: (fanptr_layout(c), c.neurons),
            Region.FANOUT: (fanout_layout(chip), c.fanout),
            Region.ACC: (acc_layout(c), c.acc_banks * c.neurons),
            **(
                {
                    Region.LPROFILE: (lprofile_layout(), c.learning_profiles),
                    Region.PRETRACE: (trace_layout(c, "PreTraceWord"), c.axons),
                    Region.POSTTRACE: (trace_layout(c, "PostTraceWord"), c.neurons),
                    Region.REVPTR: (revptr_layout(c), c.neurons),
                    Region.REVERSE: (reverse_layout(c), c.reverse_depth),
                }
                if c.learning
                else {}
            ),
        }
    )


def region_bits(chip: ChipConfig) -> int:
    """Bits of a configuration address's region field: REGION_BITS, LEARN_REGION_BITS on
    a learning core (the host link's CommandCheck uses this width too)."""
    return LEARN_REGION_BITS if chip.core.learning else REGION_BITS


# --- address map ----------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def config_index_bits(chip: ChipConfig) -> int:
    return max(bits_for(depth - 1) for _, depth in region_layouts(chip).values())


def config_addr_bits(chip: ChipConfig) -> int:
    return region_bits(chip) + config_index_bits(chip)


def config_data_bits(chip: ChipConfig) -> int:
    return max(lay.width for lay, _ in region_layouts(chip).values())


def config_layout(chip: ChipConfig) -> Layout:
    """Payload of the core's ``i_config`` stream."""
    return Layout(
        "ConfigWrite",
        [("data", config_data_bits(chip)), ("addr", config_addr_bits(chip))],
    )


def config_addr(chip: ChipConfig, region: Region, index: int) -> int:
    _lay, depth = region_layouts(chip)[Region(region)]
    if not 0 <= index < depth:
        raise ValueError(
            f"{Region(region).name} index must be between 0 and {depth - 1}, not {index}"
        )
    return int(region) << config_index_bits(chip) | index


def decode_config_write(chip: ChipConfig, addr: int, data: int):
    """(region, index, field dict) of a configuration write, as the RTL decodes it.

    The RTL ignores the index bits above a memory's depth and the data bits above
    its word; so does this function. An unknown region (7; 13..15 on a learning core)
    writes nothing and returns ``None``.
    """
    ib = config_index_bits(chip)
    reg = addr >> ib
    if reg not in Region._value2member_map_ or Region(reg) not in region_layouts(chip):
        return None
    region = Region(reg)
    lay, depth = region_layouts(chip)[region]
    index = (addr & ((1 << ib) - 1)) & (depth - 1)
    return region, index, lay.unpack(data & ((1 << lay.width) - 1))


# --- the ROUTE region: the routers' tables (ChipConfig.router.route_tables) --------------

ROUTE_REGION = 7  # CONFIG_WRITE region code of the routing registers (no core memory)
ROUTE_PORT_BITS = 3  # a route-table entry holds a Port (0..4)
ROUTE_PORTS = 5  # spikemesh.noc.N_PORTS: ports 0..4, link_off bits 0..4


class RouteIndex(enum.IntEnum):
    """The ``index`` of a ROUTE write: which register of router (tile_x, tile_y) it writes."""

    TABLE = 0  # data = RouteEntryWord: route-table entry ``entry`` gets output ``port``
    LINK_OFF = 1  # data = LinkOffWord: the router's disabled outputs (bit p: output p)


def route_entry_layout(chip: ChipConfig) -> Layout:
    """Data of a ROUTE TABLE write: the output port, and the entry (a destination code,
    spikemesh.noc.dest_code: the flit's raw ``{dest_x, dest_y}`` bits) it goes to."""
    return Layout(
        "RouteEntryWord",
        [("port", ROUTE_PORT_BITS), ("entry", chip.x_bits + 1 + chip.y_bits)],
    )


def link_off_layout() -> Layout:
    """Data of a ROUTE LINK_OFF write: bit p set disables output p (a dead link behind it)."""
    return Layout("LinkOffWord", [("link_off", ROUTE_PORTS)])


def route_layouts(chip: ChipConfig) -> dict:
    """RouteIndex -> the data word's layout."""
    return {RouteIndex.TABLE: route_entry_layout(chip), RouteIndex.LINK_OFF: link_off_layout()}


def route_config_word(chip: ChipConfig, index: RouteIndex, **fields) -> tuple[int, int]:
    """(addr, data) of one ROUTE write; ``fields`` as for the index's layout."""
    index = RouteIndex(index)
    return ROUTE_REGION << config_index_bits(chip) | int(index), route_layouts(chip)[index].pack(
        **fields
    )


def decode_route_write(chip: ChipConfig, addr: int, data: int):
    """(RouteIndex, field dict) of an accepted ROUTE write, or None when ``addr`` is no ROUTE
    write (another region). The host link has checked it (spikemesh.hostlink.CommandCheck)."""
    ib = config_index_bits(chip)
    if addr >> ib != ROUTE_REGION:
        return None
    index = RouteIndex(addr & ((1 << ib) - 1))
    return index, route_layouts(chip)[index].unpack(data)


def route_markdown(chip: ChipConfig) -> str:
    """The ROUTE region's words for ``chip`` (docs/hostlink.md, generated)."""
    rows = [
        f"ROUTE writes for the example chip ({chip.width} x {chip.height}): CONFIG_WRITE to "
        f"tile (x, y) = the router, `arg` = {ROUTE_REGION} << {config_index_bits(chip)} | index.",
        "",
        "| index | value | data word | width |",
        "|---|---|---|---|",
    ]
    for index, lay in route_layouts(chip).items():
        rows.append(f"| {index.name} | {int(index)} | {lay.name} | {lay.width} |")
    for lay in route_layouts(chip).values():
        rows += ["", f"{lay.name}:", "", lay.markdown()]
    return "\n".join(rows)


# --- loader -----------------------------------------------------------------------


def core_config_writes(chip: ChipConfig, image: CoreImage, *, acc=True) -> list:
    """The configuration writes that load ``image`` into a core, as (addr, data) pairs.

    Order: profiles, axon table, synapses, fan-out entries, fan-out pointers,
    neuron state (u0, v0, refractory counter 0, profile index) and, if ``acc``,
    zeros into every accumulator bank (a core that ran before holds leftovers).
    """
    image.check(chip)
    c = chip.core
    out = []

    def put(region, index, **fields):
        lay, _ = region_layouts(chip)[region]
        out.append((config_addr(chip, region, index), lay.pack(**fields)))

    for p, row in enumerate(image.profiles.tolist()):
        put(Region.PROFILE, p, **dict(zip(PROFILE_COLUMNS, row, strict=True)))
    delay = {}
    for a in range(c.axons):
        if c.delay_bits:
            delay = {"delay": int(image.axon_delay[a]) - 1}
        put(
            Region.AXON,
            a,
            base=int(image.axon_base[a]) if image.axon_len[a] else 0,
            len=int(image.axon_len[a]),
            exp=int(image.axon_exp[a]),
            **delay,
        )
    # a learning core's synapses load as not plastic here; learning_writes (the image's
    # CoreLearning tables) writes them again with their plastic flag and profile
    static = {"plastic": 0, "lprofile": 0} if c.learning else {}
    for k, (t, w) in enumerate(
        zip(image.syn_target.tolist(), image.syn_weight.tolist(), strict=True)
    ):
        put(Region.SYNAPSE, k, target=t, weight=w, **static)
    for k, (x, y, ax) in enumerate(
        zip(image.fan_x.tolist(), image.fan_y.tolist(), image.fan_axon.tolist(), strict=True)
    ):
        put(Region.FANOUT, k, x=x, y=y, axon=ax)
    for i in range(c.neurons):
        put(
            Region.FANPTR,
            i,
            base=int(image.fan_base[i]) if image.fan_len[i] else 0,
            len=int(image.fan_len[i]),
            host_out=int(bool(image.host_out[i])),
        )
    for i in range(c.neurons):
        put(
            Region.NEURON,
            i,
            u=int(image.u0[i]),
            v=int(image.v0[i]),
            ref=0,
            profile=int(image.profile_idx[i]),
        )
    if acc:
        for i in range(c.acc_banks * c.neurons):
            put(Region.ACC, i, a=0)
    return out


# --- learning state (docs/learning.md "Hardware plan", "In the image") -------------------------


def reverse_tables(axon_base, axon_len, syn_target, syn_plastic, *, neurons, depth=None):
    """The reverse index of a core's plastic synapses, defined once for the compiler
    (``firmware/learning.py``, the image's ``CoreLearning``) and the learning core's REVPTR /
    REVERSE memories: per neuron a row of its plastic incoming synapses, the rows in neuron
    order, each row in axon order then synapse order (the order the core walks; its cycles
    do not depend on it). An empty row has base 0, as an empty axon row has.

    Returns (rev_base [neurons], rev_len [neurons], rev_syn [P], rev_axon [P]) int64 arrays.

    Raises
    ------
    ValueError
        A plastic synapse in two axons' rows (an entry names one axon, whose pre trace it
        reads), or more than ``depth`` plastic synapses.
    """
    base = np.asarray(axon_base, dtype=np.int64)
    length = np.asarray(axon_len, dtype=np.int64)
    target = np.asarray(syn_target, dtype=np.int64)
    plastic = np.asarray(syn_plastic, dtype=bool)
    axon = np.repeat(np.arange(length.size, dtype=np.int64), length)
    first = np.cumsum(length) - length
    syn = base[axon] + (np.arange(axon.size, dtype=np.int64) - first[axon])
    keep = plastic[syn] if syn.size else np.zeros(0, dtype=bool)
    syn, axon = syn[keep], axon[keep]
    order = np.lexsort((syn, axon))  # axon, then synapse: find a synapse in two rows
    dup = np.flatnonzero(np.diff(np.sort(syn)) == 0)
    if dup.size:
        k = int(np.sort(syn)[dup[0]])
        a = sorted(int(x) for x in axon[syn == k])
        raise ValueError(
            f"plastic synapse {k} is in the rows of axons {a[0]} and {a[1]}; a plastic "
            "synapse belongs to one axon (its pre trace)"
        )
    if depth is not None and syn.size > depth:
        raise ValueError(
            f"{syn.size:,} plastic synapses do not fit the reverse index of "
            f"{depth:,} entries (CoreConfig.reverse_entries)"
        )
    syn, axon = syn[order], axon[order]
    order = np.argsort(target[syn], kind="stable")  # by neuron, keeping axon, synapse order
    syn, axon = syn[order], axon[order]
    rev_len = np.bincount(target[syn], minlength=neurons).astype(np.int64)
    rev_base = np.where(rev_len > 0, np.cumsum(rev_len) - rev_len, 0)
    return rev_base, rev_len, syn, axon


def reverse_index(core: CoreConfig, axon_base, axon_len, syn_target, syn_plastic):
    """:func:`reverse_tables` for ``core`` as lists: (rev_base [N], rev_len [N], entries
    [(synapse, axon)]); more plastic synapses than ``core.reverse_depth`` raise ValueError."""
    base, length, syn, axon = reverse_tables(
        axon_base, axon_len, syn_target, syn_plastic, neurons=core.neurons,
        depth=core.reverse_depth,
    )  # fmt: skip
    return base.tolist(), length.tolist(), list(zip(syn.tolist(), axon.tolist(), strict=True))


def learning_config_writes(
    chip: ChipConfig, *, lprofiles, syn_plastic, syn_lprofile, image: CoreImage, pre, post, rev=None
):
    """The writes that add learning state to a core loaded with ``image``: the learning
    profiles (rows in spikemesh.plasticity.PROFILE_COLUMNS order), every synapse again with
    its plastic flag and profile, the traces (``pre`` [A] and ``post`` [N]: (x, fired,
    lprofile) each) and the reverse index: ``rev`` (rev_base, rev_len, rev_syn, rev_axon) as
    given, else built by :func:`reverse_tables`."""
    c = chip.core
    if not c.learning:
        raise ValueError("learning_config_writes: the core has no learning (learning_profiles 0)")
    out = []

    def put(region, index, **fields):
        lay, _ = region_layouts(chip)[region]
        out.append((config_addr(chip, region, index), lay.pack(**fields)))

    names = [f.name for f in lprofile_layout().fields]
    for k, row in enumerate(lprofiles):
        put(Region.LPROFILE, k, **dict(zip(names, (int(v) for v in row), strict=True)))
    for k, (t, w) in enumerate(
        zip(image.syn_target.tolist(), image.syn_weight.tolist(), strict=True)
    ):
        put(
            Region.SYNAPSE,
            k,
            target=t,
            weight=w,
            plastic=int(syn_plastic[k]),
            lprofile=int(syn_lprofile[k]),
        )
    for region, words in ((Region.PRETRACE, pre), (Region.POSTTRACE, post)):
        for k, (x, fired, lp) in enumerate(words):
            put(region, k, x=int(x), fired=int(fired), lprofile=int(lp))
    if rev is None:
        rev = reverse_tables(
            image.axon_base, image.axon_len, image.syn_target, syn_plastic, neurons=c.neurons,
            depth=c.reverse_depth,
        )  # fmt: skip
    base, length, syn, axon = (np.asarray(x, dtype=np.int64).tolist() for x in rev)
    if len(syn) > c.reverse_depth:
        raise ValueError(
            f"{len(syn):,} plastic synapses do not fit the reverse index of "
            f"{c.reverse_depth:,} entries (CoreConfig.reverse_entries)"
        )
    for i in range(c.neurons):
        put(Region.REVPTR, i, base=base[i] if length[i] else 0, len=length[i])
    for k, (s, a) in enumerate(zip(syn, axon, strict=True)):
        put(Region.REVERSE, k, synapse=s, axon=a)
    return out


def learning_writes(chip: ChipConfig, image: CoreImage, learning) -> list:
    """The writes that give a core loaded with ``core_config_writes(chip, image)`` the
    learning tables of its image, ``learning`` (a :class:`~spikemesh.coreimage.CoreLearning`):
    the image is the one source. Profile k of the image is the core's LPROFILE k; a synapse
    is plastic, with its row's profile, iff its axon row is (``axon_learn``); every axon and
    neuron trace starts at 0 (tick 0 of docs/learning.md) with its ``axon_learn`` /
    ``post_learn`` profile (profile 0 where the table says fixed: such a trace is kept but
    no plastic synapse reads it); REVPTR / REVERSE are the image's ``rev_*`` tables.

    Raises
    ------
    ValueError
        The core has no learning, fewer learning profiles or reverse-index entries than the
        image needs, or the tables do not fit the image (ImageError from ``check``).
    """
    c = chip.core
    if not c.learning:
        raise ValueError(
            "learning_writes: the core has no learning (CoreConfig.learning_profiles 0); "
            "the image's core learns"
        )
    learning.check(image, chip)
    prof = np.asarray(learning.learn_profiles, dtype=np.int64)
    if prof.shape[0] > c.learning_profiles:
        raise ValueError(
            f"the image's core uses {prof.shape[0]} learning profiles, the core holds "
            f"{c.learning_profiles} (CoreConfig.learning_profiles)"
        )
    al = np.asarray(learning.axon_learn, dtype=np.int64)
    pl = np.asarray(learning.post_learn, dtype=np.int64)
    s = image.syn_target.size
    plastic = np.zeros(s, dtype=np.int64)
    lprof = np.zeros(s, dtype=np.int64)
    length = np.asarray(image.axon_len, dtype=np.int64)
    for a in np.flatnonzero((al > 0) & (length > 0)).tolist():
        lo = int(image.axon_base[a])
        plastic[lo : lo + length[a]] = 1
        lprof[lo : lo + length[a]] = al[a] - 1
    rev = (learning.rev_base, learning.rev_len, learning.rev_syn, learning.rev_axon)
    return learning_config_writes(
        chip,
        lprofiles=prof.tolist(),
        syn_plastic=plastic,
        syn_lprofile=lprof,
        image=image,
        pre=[(0, 0, max(int(x) - 1, 0)) for x in al],
        post=[(0, 0, max(int(x) - 1, 0)) for x in pl],
        rev=rev,
    )


# --- generated docs -------------------------------------------------------------------


def core_markdown(chip: ChipConfig | None = None) -> str:
    """Markdown tables of the core's memory words and address map for ``chip``."""
    chip = chip or ChipConfig()
    c = chip.core
    lines = [
        "## Core memories and configuration map (generated)",
        "",
        f"Generated by `spikemesh.layouts.core_markdown()` for a {chip.width} x {chip.height} "
        f"chip with {c.neurons} neurons, {c.axons} axons, {c.synapses} synapses, "
        f"{c.fanout} fan-out entries, {c.profiles} profiles, acc_bits {c.acc_bits}, "
        f"max_delay {c.max_delay}. "
        "Widths that depend on the config follow it.",
        "",
        f"Config address: {config_addr_bits(chip)} bits = region ({region_bits(chip)} bits) << "
        f"{config_index_bits(chip)} | index. Config data: {config_data_bits(chip)} bits, "
        "the region's word in the low bits.",
        "",
        "| region | value | word layout | depth | width |",
        "|---|---|---|---|---|",
    ]
    for region, (lay, depth) in region_layouts(chip).items():
        lines.append(
            f"| {region.name} | {int(region)} | {lay.name} | {depth} | see below | {lay.width} |"
        )
    for region, (lay, _) in region_layouts(chip).items():
        lines += ["", f"### {lay.name} ({region.name})", "", lay.markdown()]
    lines += ["", "### ConfigWrite (i_config payload)", "", config_layout(chip).markdown()]
    lines += ["", "### StateRead (o_read payload)", "", read_layout().markdown()]
    return "\n".join(lines) + "\n"


GENERATED_BEGIN = "<!-- BEGIN generated by spikemesh.layouts.core_markdown() -->"
GENERATED_END = "<!-- END generated -->"


def update_core_doc(path) -> None:
    """Rewrite the generated section of docs/core.md (between the markers) from the code."""
    from pathlib import Path

    path = Path(path)
    text = path.read_text()
    a = text.index(GENERATED_BEGIN) + len(GENERATED_BEGIN)
    b = text.index(GENERATED_END)
    path.write_text(text[:a] + "\n" + core_markdown() + text[b:])


if __name__ == "__main__":  # python -m spikemesh.layouts [docs/core.md]
    import sys

    update_core_doc(sys.argv[1] if len(sys.argv) > 1 else "docs/core.md")
