"""The direct image load of the RTL: which memory word and register each CONFIG_WRITE sets.

A CONFIG_WRITE of the host link lands in one memory of one core (``rtl/core.py``
decodes ``spikemesh.layouts``' address map); a PROFILE write also sets the profile's
decay-factor registers. :func:`image_memory_writes` gives all of it for a compiled
image, as (id, index, word) arrays; the fast runner's harness writes them through
Verilator's public access (``chip_mems.h``, generated here) and the cocotb runner
through its handles, after reset and before cycle 0.
"""

from __future__ import annotations

import re

import numpy as np

from spikemesh.config import MAX_DELAYS, ChipConfig
from spikemesh.coreimage import PROFILE_COLUMNS
from spikemesh.hdlsim import HdlSimError
from spikemesh.layouts import Region, config_index_bits, region_layouts
from spikemesh.memory_geometry import CORE_MEMORIES

# The memories of rtl/core.py::Core by the names it gives them, in slot order; a memory's
# id in the harness is tile * len(MEMORIES) + slot, tile = y * width + x. A core has
# max_delay + 1 accumulator banks, acc0_mem .. acc{D}_mem (2 without delays); the slots of
# the longest D are reserved in every chip so that ids do not depend on it, and
# :func:`memory_shapes` lists the ones a chip has.
_ACC0 = 6
MEMORIES = (
    *CORE_MEMORIES,
    *((f"acc{b}_mem", Region.ACC) for b in range(MAX_DELAYS[-1] + 1)),
)
_SLOT = {region: k for k, (_, region) in enumerate(MEMORIES) if region != Region.ACC}
# Registers a PROFILE write sets besides the memory (rtl/core.py: each profile's decay
# factors 4096 - (du + 1) and 4096 - dv, kept in flip-flops); "memory" ids past the
# memories, index = profile. Their Verilog names come from the Verilog itself (yosys
# may rename a register after the signal it drives), see :func:`profile_registers`.
PROFILE_REGS = ("fu", "fv")


def memory_shapes(chip: ChipConfig) -> list[tuple[str, int, int]]:
    """(name, word width, depth) of each memory slot a core of ``chip`` has (the first
    ``_ACC0 + acc_banks`` of MEMORIES)."""
    lays = region_layouts(chip)
    banks = chip.core.acc_banks
    out = []
    for name, region in MEMORIES[: _ACC0 + banks]:
        lay, depth = lays[region]
        out.append((name, lay.width, depth // banks if region == Region.ACC else depth))
    return out


def config_write_memory(chip: ChipConfig, tile_x: int, tile_y: int, addr: int, data: int):
    """Where one CONFIG_WRITE lands, as rtl/core.py decodes it: (memory id, index, word).

    The memory's address port keeps the index bits it needs, the write port the data
    bits of its word; the ACC region's index bits from ``neuron_bits`` up pick the bank.
    ``None`` for the unused region 7, which writes nothing.
    """
    ib = config_index_bits(chip)
    region, index = addr >> ib, addr & ((1 << ib) - 1)
    if region not in Region._value2member_map_:
        return None
    shapes = memory_shapes(chip)
    if region == Region.ACC:
        slot = _ACC0 + ((index >> chip.core.neuron_bits) & (chip.core.acc_banks - 1))
    else:
        slot = _SLOT[Region(region)]
    _name, width, depth = shapes[slot]
    tile = tile_y * chip.width + tile_x
    return tile * len(MEMORIES) + slot, index & (depth - 1), data & ((1 << width) - 1)


def _pack(layout, **fields) -> np.ndarray:
    """Vectorised ``Layout.pack`` (words up to 64 bits) over equal-length field arrays."""
    if layout.width > 64:
        raise HdlSimError(f"{layout.name} words are {layout.width} bits, direct load takes <= 64")
    word = None
    for f in layout.fields:
        v = np.asarray(fields[f.name], dtype=np.int64) & ((1 << f.width) - 1)
        v = v.astype(np.uint64) << np.uint64(layout.offsets[f.name])
        word = v if word is None else word | v
    return word


def image_memory_writes(image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(memory id, index, word) of every write the image's CONFIG_WRITE stream makes.

    The same words, in memory terms, as ``spikemesh.layouts.core_config_writes`` for
    every core (including the zeroed accumulators), computed with numpy: loading a large
    image this way takes milliseconds, not the seconds of packing command words.
    """
    image.check()
    chip = image.chip
    c = chip.core
    lays = {r: lay for r, (lay, _) in region_layouts(chip).items()}
    ids, idx, words = [], [], []

    def put(tile, slot, word):
        word = np.asarray(word, dtype=np.uint64)
        ids.append(np.full(word.size, tile * len(MEMORIES) + slot, dtype=np.int64))
        idx.append(np.arange(word.size, dtype=np.int64))
        words.append(word)

    for t, core in enumerate(image.cores):
        p = np.asarray(core.profiles, dtype=np.int64).reshape(-1, len(PROFILE_COLUMNS))
        put(
            t,
            1,
            _pack(lays[Region.PROFILE], **{k: p[:, j] for j, k in enumerate(PROFILE_COLUMNS)}),
        )
        alen = np.asarray(core.axon_len, dtype=np.int64)
        put(
            t,
            2,
            _pack(
                lays[Region.AXON],
                base=np.where(alen > 0, core.axon_base, 0),
                len=alen,
                exp=core.axon_exp,
                **({"delay": np.asarray(core.axon_delay) - 1} if chip.core.delay_bits else {}),
            ),
        )
        put(t, 3, _pack(lays[Region.SYNAPSE], target=core.syn_target, weight=core.syn_weight))
        put(t, 5, _pack(lays[Region.FANOUT], x=core.fan_x, y=core.fan_y, axon=core.fan_axon))
        flen = np.asarray(core.fan_len, dtype=np.int64)
        put(
            t,
            4,
            _pack(
                lays[Region.FANPTR],
                base=np.where(flen > 0, core.fan_base, 0),
                len=flen,
                host_out=np.asarray(core.host_out, dtype=bool),
            ),
        )
        zeros = np.zeros(c.neurons, dtype=np.int64)
        put(
            t,
            0,
            _pack(lays[Region.NEURON], u=core.u0, v=core.v0, ref=zeros, profile=core.profile_idx),
        )
        for b in range(c.acc_banks):
            put(t, _ACC0 + b, np.zeros(c.neurons, dtype=np.uint64))
        base = chip.tiles * len(MEMORIES) + t * len(PROFILE_REGS)
        for r, factor in enumerate((4095 - p[:, 0], 4096 - p[:, 1])):
            ids.append(np.full(len(p), base + r, dtype=np.int64))
            idx.append(np.arange(len(p), dtype=np.int64))
            words.append(factor.astype(np.uint64))
    return np.concatenate(ids), np.concatenate(idx), np.concatenate(words)


def profile_registers(chip: ChipConfig, verilog: str) -> list[list[list[str]]]:
    """Per tile, per PROFILE_REGS entry, per profile: the register's Verilog name.

    The core declares ``prof{k}_fu``/``prof{k}_fv``; where yosys merged one into the
    signal it drives (``assign prof0_fu = prof_fu_sel;``) the driver is the register.
    """
    out = []
    for t in range(chip.tiles):
        x, y = t % chip.width, t // chip.width
        head = f"module \\chip.core_{x}_{y} "
        a = verilog.find(head)
        if a < 0:
            raise HdlSimError(f"the chip's Verilog has no module chip.core_{x}_{y}")
        b = verilog.find("endmodule", a)
        body = verilog[a:b]
        tile = []
        for reg in PROFILE_REGS:
            names = []
            for k in range(chip.core.profiles):
                name = f"prof{k}_{reg}"
                if not re.search(rf"^\s*reg\s+(\[[^\]]*\]\s*)?{name}\b", body, re.M):
                    alias = re.search(
                        rf"^\s*assign\s+{name}\s*=\s*([A-Za-z_][\w]*)\s*;", body, re.M
                    )
                    if alias is None:
                        raise HdlSimError(f"chip.core_{x}_{y} has no register {name}")
                    name = alias.group(1)
                names.append(name)
            tile.append(names)
        out.append(tile)
    return out


def _mems_header(chip: ChipConfig, regs) -> str:
    """chip_mems.h: ``write_memory(root, id, index, words)`` over every core's memories."""
    n_mem = chip.tiles * len(MEMORIES)
    lines = [
        "// Generated by spikemesh.firmware.rtl_runner for one chip configuration.",
        f"static const int MEM_COUNT = {n_mem + chip.tiles * len(PROFILE_REGS)};",
        "static void write_memory(Vchip___024root* r, int id, uint32_t i, const uint32_t* w) {",
        "    switch (id) {",
    ]
    shapes = memory_shapes(chip)
    for t in range(chip.tiles):
        x, y = t % chip.width, t // chip.width
        for slot, (name, _width, depth) in enumerate(shapes):
            var = f"chip__DOT__core_{x}_{y}__DOT__{name}"
            lines.append(
                f"    case {t * len(MEMORIES) + slot}: if (i < {depth}) put(r->{var}[i], w); "
                'else fail("a memory index out of range"); break;'
            )
    for t in range(chip.tiles):
        x, y = t % chip.width, t // chip.width
        for r, names in enumerate(regs[t]):
            cases = " ".join(
                f"case {k}: put(r->chip__DOT__core_{x}_{y}__DOT__{n}, w); break;"
                for k, n in enumerate(names)
            )
            lines.append(
                f"    case {n_mem + t * len(PROFILE_REGS) + r}: switch (i) {{ {cases} "
                'default: fail("a profile index out of range"); } break;'
            )
    lines += ['    default: fail("a memory id out of range");', "    }", "}", ""]
    return "\n".join(lines)
