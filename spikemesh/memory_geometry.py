"""How a core's memories fill an FPGA's RAM primitives (issue 17, docs/core-resources.md).

For each memory of ``rtl/core.py::Core`` (the words of ``spikemesh.layouts``): the bits it
holds (word width x depth) and the bits of the RAM primitives it occupies, on

- ECP5: DP16KD, 18 kbit, as 16K x 1, 8K x 2, 4K x 4, 2K x 9, 1K x 18 or 512 x 36 (the last
  pseudo-dual-port, which a 1R1W memory is);
- iCE40 UP5K: EBR (SB_RAM40_4K), 4 kbit, as 256 x 16, 512 x 8, 1K x 4 or 2K x 2; and the
  SB_SPRAM256KA, 256 kbit as 16K x 16, single-port, for the memories a
  ``CoreConfig.single_port`` core builds with one address (rtl/core_ports.py).

A memory takes the aspect ratio that needs the fewest primitives (what yosys's
``memory_libmap`` does when block RAM is the cheapest). The profile table (a few words, and
its decay fields unused: the core keeps the decay factors in registers) is in logic on both
families (yosys: LUT RAM on ECP5, flip-flops on iCE40). yosys may put other small memories
(64 words and fewer) in ECP5 LUT RAM too: :func:`memory_rows` counts block RAM for them, so
its totals are an upper bound there; bench/core_resources.py puts the measured totals beside
them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .config import ChipConfig, CoreConfig
from .layouts import Region, region_layouts

__all__ = ["PRIMITIVES", "MemoryRow", "fill", "memory_rows", "totals"]

# name -> (bits, ((depth, width), ...))
PRIMITIVES = {
    "DP16KD": (18432, ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))),
    "EBR": (4096, ((256, 16), (512, 8), (1024, 4), (2048, 2))),
    "SPRAM": (262144, ((16384, 16),)),
    "logic": (0, ()),
}
FAMILY_RAM = {"ecp5": "DP16KD", "ice40": "EBR"}

# The core's memories by rtl/core.py's names, in the fast runner's slot order
# (firmware/rtl_memories.py adds the accumulators, one per bank, after them).
CORE_MEMORIES = (
    ("state_mem", Region.NEURON),
    ("profile_mem", Region.PROFILE),
    ("axon_mem", Region.AXON),
    ("synapse_mem", Region.SYNAPSE),
    ("fanptr_mem", Region.FANPTR),
    ("fanout_mem", Region.FANOUT),
)
# The memories a ``single_port`` core builds with one address (CoreConfig.single_port):
# only the config path writes them, and only while ``i_config.ready = ~running & idle``,
# when neither the event pipeline's walker (synapses) nor the fan-out unit (fan-out list)
# reads. The axon table is not among them: an event can be taken (and its axon word read)
# in the very cycle a configuration write is taken, since both only need an idle core.
# rtl/core_ports.py builds them; the tables here count them as SPRAM on the iCE40.
SINGLE_PORT_MEMORIES = {Region.SYNAPSE: "synapse_mem", Region.FANOUT: "fanout_mem"}


def fill(primitive: str, depth: int, width: int) -> tuple[int, str]:
    """(count, "depth x width") of the fewest ``primitive`` blocks holding depth x width."""
    _bits, shapes = PRIMITIVES[primitive]
    best = min((math.ceil(depth / d) * math.ceil(width / w), -w, f"{d} x {w}") for d, w in shapes)
    return best[0], best[2]


@dataclass(frozen=True)
class MemoryRow:
    """One memory of a core on one family's RAM."""

    name: str
    width: int
    depth: int
    primitive: str
    count: int
    shape: str

    @property
    def held(self) -> int:
        return self.width * self.depth

    @property
    def occupied(self) -> int:
        return self.count * PRIMITIVES[self.primitive][0]


def memory_rows(chip: ChipConfig, family: str) -> list[MemoryRow]:
    """Every memory of one core of ``chip`` on ``family`` ("ecp5" or "ice40"): block RAM,
    or SPRAM for a single-port core's synapse and fan-out memories on iCE40."""
    if family not in FAMILY_RAM:
        raise ValueError(f"FPGA family must be one of {', '.join(FAMILY_RAM)}, not {family!r}")
    c = chip.core
    lays = region_layouts(chip)
    mems = [(n, r, lays[r][0].width, lays[r][1]) for n, r in CORE_MEMORIES]
    mems += [
        (f"acc{b}_mem", Region.ACC, lays[Region.ACC][0].width, c.neurons)
        for b in range(c.acc_banks)
    ]
    rows = []
    for name, region, width, depth in mems:
        prim = FAMILY_RAM[family]
        if family == "ice40" and c.single_port and region in SINGLE_PORT_MEMORIES:
            prim = "SPRAM"
        if region == Region.PROFILE:
            prim, count, shape = "logic", 0, "LUT RAM / flip-flops"
        else:
            count, shape = fill(prim, depth, width)
        rows.append(MemoryRow(name, width, depth, prim, count, shape))
    return rows


def totals(rows) -> dict:
    """Primitive -> count, plus "held" and "occupied" bits, of ``memory_rows``' rows."""
    out = {"held": 0, "occupied": 0}
    for r in rows:
        if r.primitive != "logic":
            out[r.primitive] = out.get(r.primitive, 0) + r.count
        out["held"] += r.held
        out["occupied"] += r.occupied
    return out


# The cores docs/core-resources.md tabulates: (label, chip). A chip's memories are its
# tiles' cores' (the router FIFOs and host link are in logic).
DOC_CHIPS = (
    ("N=64, 4 x 4 (the default core)", ChipConfig(width=4, height=4)),
    (
        "N=256, 4 x 4",
        ChipConfig(
            width=4, height=4, core=CoreConfig(neurons=256, axons=1024, synapses=8192, fanout=2048)
        ),
    ),
    (
        "N=256 with 4,096 synapses, 4 x 4: 4,096 neurons, 65,536 synapses",
        ChipConfig(
            width=4, height=4, core=CoreConfig(neurons=256, axons=512, synapses=4096, fanout=1024)
        ),
    ),
    (
        # state, accumulators and fan-out pointers fill 512 x 36 blocks at N = 512 for free
        "N=512, 4 x 2: 4,096 neurons, 65,536 synapses",
        ChipConfig(
            width=4, height=2, core=CoreConfig(neurons=512, axons=1024, synapses=8192, fanout=2048)
        ),
    ),
    (
        "N=256 single-port, 1 x 1: 256 neurons, 16,384 synapses",
        ChipConfig(
            width=1,
            height=1,
            core=CoreConfig(
                neurons=256, axons=1024, synapses=16384, fanout=4096, profiles=2, single_port=True
            ),
        ),
    ),
)
DEVICES = {"LFE5U-85F": ("ecp5", {"DP16KD": 208}), "LFE5U-25F": ("ecp5", {"DP16KD": 56}),
           "iCE40 UP5K": ("ice40", {"EBR": 30, "SPRAM": 4})}  # fmt: skip


def _cell(row) -> str:
    if row.primitive == "logic":
        return f"logic ({row.shape})", "-"
    return f"{row.count} {row.primitive} ({row.shape})", (
        f"{row.occupied:,} ({100 * row.held / row.occupied:.0f} %)"
    )


def _totals_text(t) -> str:
    prims = ", ".join(f"{t[p]} {p}" for p in PRIMITIVES if p in t)
    fill_pct = 100 * t["held"] / t["occupied"] if t["occupied"] else 0
    return f"{prims}; {t['occupied']:,} bits ({fill_pct:.0f} % full)"


def memory_markdown() -> str:
    """docs/core-resources.md's per-memory tables (spikemesh.docgen block core-memories)."""
    out = []
    for label, chip in DOC_CHIPS:
        ecp5, ice40 = memory_rows(chip, "ecp5"), memory_rows(chip, "ice40")
        out += [
            f"**{label}** ({chip.core.neurons} neurons, {chip.core.axons} axons, "
            f"{chip.core.synapses:,} synapses, {chip.core.fanout:,} fan-out entries per core):",
            "",
            "| memory | word x depth | bits held | ECP5 | ECP5 bits occupied (full) "
            "| iCE40 | iCE40 bits occupied (full) |",
            "|---|---|---|---|---|---|---|",
        ]
        for e, i in zip(ecp5, ice40, strict=True):
            ec, eo = _cell(e)
            ic, io = _cell(i)
            out.append(
                f"| {e.name} | {e.width} x {e.depth:,} | {e.held:,} | {ec} | {eo} | {ic} | {io} |"
            )
        te, ti = totals(ecp5), totals(ice40)
        out.append(
            f"| **per core** | | {te['held']:,} | {_totals_text(te)} | | {_totals_text(ti)} | |"
        )
        n = chip.tiles
        fits = []
        for dev, (fam, cap) in DEVICES.items():
            t = te if fam == "ecp5" else ti
            need = {p: n * t.get(p, 0) for p in cap}
            ok = all(need[p] <= cap[p] for p in cap)
            fits.append(
                f"{dev} {' + '.join(f'{need[p]} / {cap[p]} {p}' for p in cap)}"
                + ("" if ok else " (does not fit)")
            )
        out += ["", f"A {chip.width} x {chip.height} chip's cores: " + "; ".join(fits) + ".", ""]
        if chip.core.single_port:
            two = dataclasses.replace(chip, core=dataclasses.replace(chip.core, single_port=False))
            out += [
                "Before (the same core with two-port memories, all in EBR on the iCE40): "
                f"{_totals_text(totals(memory_rows(two, 'ice40')))}.",
                "",
            ]
    return "\n".join(out)
