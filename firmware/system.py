"""The system compiler and image: Network + SystemConfig -> one ChipImage per chip.

Placement: neurons in declaration order fill the chips in chip order (``c = cy * chips_x +
cx``), and inside a chip its tiles row-major, ``neurons_per_core`` at a time: the very
passes of :mod:`spikemesh.firmware.compiler`, run over the system's tiles numbered chip by
chip (tile ``c * chip.tiles + y * width + x``). So a population stays on as few chips as
it can, and a 1 x 1 system compiles to exactly the chip image ``compile_network`` makes.

Fan-out entries address their destination in global tile coordinates, as X-then-Y routing
across chip boundaries needs (spikemesh/system.py): each chip's image holds the local
(x, y) of the destination tile on its own chip and ``fan_chip``, the destination chip of
every fan-out entry. A source's input events are injected by the host link of each chip
that holds a target, so the host input table of a chip lists only its own tiles.

File layout (integers little-endian)::

    offset  size  field
    0       8     magic  b"SPKMSYS\\0"
    8       4     format version (uint32), SYSTEM_IMAGE_VERSION
    12      8     header length in bytes (uint64)
    20      32    SHA-256 of the header
    52      ...   header: JSON (system config, network name, populations, recorded neurons,
                  each chip's first neuron, and per chip the offset, length and SHA-256 of
                  its two sections)
    ...     ...   per chip: its ChipImage file (firmware/image.py: its own magic, version
                  and checksum), then its fan_chip table (raw uint16)

A process of a distributed run reads the header and only its own chips' sections.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from spikemesh.errors import ConfigError, ImageError
from spikemesh.network import Network
from spikemesh.system import SystemConfig

from . import compiler as C
from .image import ChipImage

MAGIC = b"SPKMSYS\0"
SYSTEM_IMAGE_VERSION = 1
_HEADER = struct.Struct("<8sIQ32s")
_FAN_CHIP = np.dtype("<u2")  # destination chip of a fan-out entry (chips <= 64 x 64)


def _sha(data) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(eq=False)
class SystemImage:
    """A network compiled for a system of chips.

    Members
    -------
    system : SystemConfig
    chips : list of ChipImage or None
        One image per chip (None for a chip this process did not load).
    fan_chip : list of uint16 arrays or None
        Per chip: the destination chip of every fan-out entry, in the order of the chip's
        cores' fan-out memories concatenated (tile order).
    neuron_first : int [chips + 1]
        Chip c holds network neurons ``neuron_first[c]:neuron_first[c + 1]``; its image's
        ``neuron_slot`` and ``recorded`` are numbered from ``neuron_first[c]``.
    num_sources : int
    recorded : int [R]
        Network ids of the recorded neurons.
    population_names, population_offsets, network_name
        For mapping results back to populations.
    """

    system: SystemConfig
    chips: list
    fan_chip: list
    neuron_first: np.ndarray
    num_sources: int
    recorded: np.ndarray
    population_names: list = field(default_factory=list)
    population_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    network_name: str = "network"

    @property
    def num_neurons(self) -> int:
        return int(self.neuron_first[-1])

    def loaded(self) -> list[int]:
        """Numbers of the chips whose images are present."""
        return [c for c, img in enumerate(self.chips) if img is not None]

    def check(self) -> None:
        """Raise ImageError unless every loaded chip is consistent with the system."""
        s = self.system
        if len(self.chips) != s.chips or len(self.fan_chip) != s.chips:
            raise ImageError(f"image has {len(self.chips)} chips, the system has {s.chips}")
        nf = self.neuron_first
        if nf.shape != (s.chips + 1,) or nf[0] != 0 or np.any(np.diff(nf) < 0):
            raise ImageError("the chips' first-neuron table is inconsistent")
        for c in self.loaded():
            img, where = self.chips[c], s.chip_name(c)
            if img.chip != s.chip:
                raise ImageError(f"{where}: its image is for another chip configuration")
            img.check()
            if img.num_neurons != nf[c + 1] - nf[c] or img.num_sources != self.num_sources:
                raise ImageError(f"{where}: its image holds another part of the network")
            fc = self.fan_chip[c]
            entries = sum(core.fan_x.size for core in img.cores)
            if fc is None or fc.size != entries:
                raise ImageError(
                    f"{where}: fan_chip has {0 if fc is None else fc.size:,} "
                    f"entries, its cores' fan-out memories {entries:,}"
                )
            if fc.size and int(fc.max()) >= s.chips:
                raise ImageError(
                    f"{where}: a fan-out entry points to chip {int(fc.max())}, "
                    f"the system has {s.chips}"
                )

    def __eq__(self, other):
        if not isinstance(other, SystemImage):
            return NotImplemented
        same_fan = all(
            (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
            for a, b in zip(self.fan_chip, other.fan_chip, strict=True)
        )
        return (
            self.system == other.system
            and self.chips == other.chips
            and same_fan
            and np.array_equal(self.neuron_first, other.neuron_first)
            and self.num_sources == other.num_sources
            and np.array_equal(self.recorded, other.recorded)
            and list(self.population_names) == list(other.population_names)
            and np.array_equal(self.population_offsets, other.population_offsets)
            and self.network_name == other.network_name
        )

    # --- file format ---
    def _meta(self) -> dict:
        return {
            "system": self.system.to_dict(),
            "network_name": self.network_name,
            "population_names": list(self.population_names),
            "population_offsets": [int(x) for x in self.population_offsets],
            "num_sources": int(self.num_sources),
            "recorded": [int(x) for x in self.recorded],
            "neuron_first": [int(x) for x in self.neuron_first],
        }

    def digest(self) -> str:
        """SHA-256 naming this image's content: equal on every process that loaded the same
        file or compiled the same network for the same system (whatever chips it loaded)."""
        d = getattr(self, "_digest", None)
        if d is None:
            blobs = [self._chip_blobs(c) for c in range(self.system.chips)]
            d = _sha(_header_json(self._meta(), blobs, 0)[0])
        return d

    def _chip_blobs(self, c):
        cached = getattr(self, "_blobs", {})
        if c not in cached:
            if self.chips[c] is None:
                raise ImageError(f"{self.system.chip_name(c)} is not loaded; cannot write it")
            cached[c] = (
                self.chips[c].to_bytes(),
                np.ascontiguousarray(self.fan_chip[c], dtype=_FAN_CHIP).tobytes(),
            )
            self._blobs = cached
        return cached[c]

    def to_bytes(self) -> bytes:
        blobs = [self._chip_blobs(c) for c in range(self.system.chips)]
        head, _ = _header_json(self._meta(), blobs, 0)
        out = [_HEADER.pack(MAGIC, SYSTEM_IMAGE_VERSION, len(head), hashlib.sha256(head).digest())]
        out.append(head)
        for img, fan in blobs:
            out += [img, fan]
        self._blobs = {}
        return b"".join(out)

    def save(self, path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path, *, chips=None) -> SystemImage:
        """Read a system image file; only the chips numbered in ``chips`` (default: all)."""
        p = Path(path)
        if not p.exists():
            raise ImageError(f"system image file {p} does not exist")
        with open(p, "rb") as f:
            size = p.stat().st_size
            meta, digest, base = _read_header(f, size, str(p))
            return cls._from_meta(meta, digest, base, f, size, str(p), chips)

    @classmethod
    def from_bytes(cls, data: bytes, *, where="system image", chips=None) -> SystemImage:
        import io

        f = io.BytesIO(data)
        meta, digest, base = _read_header(f, len(data), where)
        return cls._from_meta(meta, digest, base, f, len(data), where, chips)

    @classmethod
    def _from_meta(cls, meta, digest, base, f, size, where, chips):
        try:
            system = SystemConfig.from_dict(meta["system"])
            sections = meta["sections"]
            img = cls(
                system=system,
                chips=[None] * system.chips,
                fan_chip=[None] * system.chips,
                neuron_first=np.array(meta["neuron_first"], dtype=np.int64),
                num_sources=int(meta["num_sources"]),
                recorded=np.array(meta["recorded"], dtype=np.int64),
                population_names=list(meta["population_names"]),
                population_offsets=np.array(meta["population_offsets"], dtype=np.int64),
                network_name=str(meta["network_name"]),
            )
            if len(sections) != system.chips:
                raise ImageError(f"{where}: header lists {len(sections)} chips, not {system.chips}")
        except ConfigError as e:
            raise ImageError(f"{where}: image holds an invalid system config: {e}") from None
        except (KeyError, ValueError, TypeError) as e:
            raise ImageError(f"{where}: system image header is malformed ({e})") from None
        wanted = range(system.chips) if chips is None else chips
        for c in wanted:
            if not 0 <= c < system.chips:
                raise ImageError(f"{where}: no chip {c}; the system has {system.chips}")
            name = f"{where}: {system.chip_name(c)}"
            sec = sections[c]
            blob = _read_section(f, size, base, sec["image"], f"{name} image")
            img.chips[c] = ChipImage.from_bytes(blob, where=name)
            del blob
            raw = _read_section(f, size, base, sec["fan_chip"], f"{name} fan_chip table")
            img.fan_chip[c] = np.frombuffer(raw, dtype=_FAN_CHIP)
        img._digest = digest
        img.check()
        return img


def _header_json(meta, blobs, base):
    """The header bytes and section table; offsets count from the first byte after it."""
    sections, pos = [], base
    for img, fan in blobs:
        # The chip image's own SHA-256 (bytes 20..51 of its header) covers its payload.
        sections.append(
            {
                "image": [pos, len(img), _sha(img)],
                "fan_chip": [pos + len(img), len(fan), _sha(fan)],
            }
        )
        pos += len(img) + len(fan)
    return json.dumps({**meta, "sections": sections}, sort_keys=True).encode(), sections


def _read_header(f, size, where):
    raw = f.read(_HEADER.size)
    if len(raw) < _HEADER.size:
        raise ImageError(f"{where}: {size} bytes is too short for a spikemesh system image header")
    magic, version, length, digest = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise ImageError(f"{where}: not a spikemesh system image (bad magic {magic!r})")
    if version != SYSTEM_IMAGE_VERSION:
        raise ImageError(
            f"{where}: system image format version {version}; this spikemesh reads version "
            f"{SYSTEM_IMAGE_VERSION} (recompile the network)"
        )
    head = f.read(length)
    if len(head) != length:
        raise ImageError(
            f"{where}: system image is truncated: header says {length:,} header bytes, "
            f"the file has {len(head):,}"
        )
    if hashlib.sha256(head).digest() != digest:
        raise ImageError(f"{where}: system image header is corrupted (SHA-256 checksum mismatch)")
    try:
        meta = json.loads(head.decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise ImageError(f"{where}: system image header is malformed ({e})") from None
    return meta, digest.hex(), _HEADER.size + length


def _read_section(f, size, base, sec, name):
    try:
        off, length, sha = int(sec[0]), int(sec[1]), str(sec[2])
    except (TypeError, ValueError, IndexError) as e:
        raise ImageError(f"{name}: section entry is malformed ({e})") from None
    if base + off + length > size:
        raise ImageError(
            f"{name}: the file is truncated: the section ends at byte {base + off + length:,}, "
            f"the file has {size:,}"
        )
    f.seek(base + off)
    data = f.read(length)
    if _sha(data) != sha:
        raise ImageError(f"{name}: section is corrupted (SHA-256 checksum mismatch)")
    return data


# --- the compiler -----------------------------------------------------------------------------


def _tile_namer(system):
    chip = system.chip

    def name(t):
        c, local = divmod(int(t), chip.tiles)
        return f"{system.chip_name(c)} {C._tile_name(chip, local)}"

    return name


def _chip_image(net, system, t, slots, c, fan_x, fan_y, fan_chip, tile_name, host):
    """Chip c's ChipImage (views of the flat tables) and profiles used per core."""
    chip, n_net, tpc = system.chip, net.num_neurons, system.chip.tiles
    tiles = range(c * tpc, (c + 1) * tpc)
    cores, profiles_used = C.core_images(net, chip.core, t, slots, tiles, fan_x, fan_y, tile_name)
    first, last = min(c * tpc * t.npc, n_net), min((c + 1) * tpc * t.npc, n_net)
    # the host input table of this chip: each source's entries into this chip's tiles
    s0 = int(t.fan_ptr[n_net])
    src_chip = fan_chip[s0:]
    mine = src_chip == c
    owner = np.repeat(np.arange(net.num_sources), t.fan_cnt[n_net:]) if host else None
    src_ptr = np.zeros(net.num_sources + 1, dtype=np.int64)
    if mine.any():
        np.cumsum(np.bincount(owner[mine], minlength=net.num_sources), out=src_ptr[1:])
    rec = net.recorded()
    rec = rec[(rec >= first) & (rec < last)] - first
    names, offsets = C.population_info(net)
    image = C.ChipImage(
        chip=chip,
        cores=cores,
        neuron_slot=t.slot_of[first:last] - c * chip.neurons,
        src_ptr=src_ptr,
        src_x=fan_x[s0:][mine].astype(np.int64),
        src_y=fan_y[s0:][mine].astype(np.int64),
        src_axon=t.fan_axon[s0:][mine].astype(np.int64),
        recorded=rec,
        population_names=names,
        population_offsets=np.clip(offsets - first, 0, last - first),
        network_name=net.name,
    )
    a0, a1 = c * tpc * chip.core.axons, (c + 1) * tpc * chip.core.axons
    y0, y1 = int(t.syn_start[c * tpc]), int(t.syn_start[(c + 1) * tpc])
    image.set_flat_tables(
        axon_base=t.axon_base[a0:a1],
        axon_len=t.axon_len[a0:a1],
        axon_exp=t.axon_exp[a0:a1],
        axon_delay=t.axon_delay[a0:a1],
        syn_target=t.syn_target[y0:y1],
        syn_weight=t.syn_weight[y0:y1],
        syn_off=t.syn_start[c * tpc : (c + 1) * tpc] - y0,
    )
    f0, f1 = int(t.fan_ptr[first]), int(t.fan_ptr[last])
    return image, fan_chip[f0:f1], profiles_used


def compile_system(
    net: Network,
    system: SystemConfig,
    *,
    neurons_per_core: int | None = None,
    host_outputs="all",
) -> tuple[SystemImage, SystemUtilization]:
    """Compile ``net`` for ``system``: neurons to chips, then to cores.

    Parameters are those of :func:`~spikemesh.firmware.compile_network`.

    Raises
    ------
    CompileError
        When anything does not fit; the message names the chip and the core.
    """
    t0 = time.perf_counter()
    chip, n_net = system.chip, net.num_neurons
    n_tiles, tpc = system.tiles, chip.tiles
    npc = C.check_neurons_per_core(
        chip.core,
        n_tiles,
        n_net,
        neurons_per_core,
        f"{system.chips_x} x {system.chips_y} chips of {chip.width} x {chip.height} cores",
    )
    host_out = C.host_output_mask(net, host_outputs)
    tile_name = _tile_namer(system)
    t = C.build_tables(net, chip.core, n_tiles, npc, tile_name)
    fan_chip = (t.fan_tile // tpc).astype(_FAN_CHIP)
    local = t.fan_tile % tpc
    fan_x = (local % chip.width).astype(np.uint8)
    fan_y = (local // chip.width).astype(np.uint8)
    del local
    slots = C.slot_tables(net, chip.core, t, n_tiles, host_out)
    chips, fans, profiles = [], [], []
    for c in range(system.chips):
        img, fc, prof = _chip_image(
            net, system, t, slots, c, fan_x, fan_y, fan_chip, tile_name, host=net.num_sources > 0
        )
        chips.append(img)
        fans.append(fc)
        profiles.append(prof)
    first = np.minimum(np.arange(system.chips + 1) * tpc * npc, n_net).astype(np.int64)
    names, offsets = C.population_info(net)
    image = SystemImage(
        system=system,
        chips=chips,
        fan_chip=fans,
        neuron_first=first,
        num_sources=net.num_sources,
        recorded=net.recorded(),
        population_names=names,
        population_offsets=offsets,
        network_name=net.name,
    )
    neurons = np.bincount(t.tile_of, minlength=n_tiles)
    per_chip = []
    for c in range(system.chips):
        sl = slice(c * tpc, (c + 1) * tpc)
        per_chip.append(
            C.Utilization(
                chip=chip,
                neurons=neurons[sl],
                axons=t.axons_per_tile[sl],
                synapses=t.syn_per_tile[sl],
                fanout=t.fan_per_tile[sl],
                profiles=profiles[c],
            )
        )
    east, west, north, south = link_crossings(system, t.tile_of, t.fan_ptr, t.fan_tile)
    util = SystemUtilization(
        system=system,
        chips=per_chip,
        crossings={"east": east, "west": west, "north": north, "south": south},
        compile_time=time.perf_counter() - t0,
    )
    return image, util


# --- link utilization -------------------------------------------------------------------------


@njit(cache=True)
def _crossings(tile_of, fan_ptr, fan_tile, width, height, tpc, chips_x, east, west, north, south):
    """Count the fan-out entries whose X-then-Y route crosses each chip-to-chip link.

    east/west[b, gy]: the link on row gy across the boundary between chip columns b and b + 1;
    north/south[b, gx]: on column gx across the boundary between chip rows b and b + 1.
    The X leg runs on the source's row, the Y leg on the destination's column.
    """
    for g in range(tile_of.size):
        c, loc = tile_of[g] // tpc, tile_of[g] % tpc
        cx, cy = c % chips_x, c // chips_x
        gy = cy * height + loc // width
        for k in range(fan_ptr[g], fan_ptr[g + 1]):
            d, dl = fan_tile[k] // tpc, fan_tile[k] % tpc
            dx, dy = d % chips_x, d // chips_x
            gx_d = dx * width + dl % width
            for b in range(cx, dx):
                east[b, gy] += 1
            for b in range(dx, cx):
                west[b, gy] += 1
            for b in range(cy, dy):
                north[b, gx_d] += 1
            for b in range(dy, cy):
                south[b, gx_d] += 1


def link_crossings(system, tile_of, fan_ptr, fan_tile):
    """(east, west, north, south) arrays of fan-out entries routed over each link."""
    s = system
    east = np.zeros((s.chips_x - 1, s.tiles_y), dtype=np.int64)
    west = np.zeros_like(east)
    north = np.zeros((s.chips_y - 1, s.tiles_x), dtype=np.int64)
    south = np.zeros_like(north)
    if tile_of.size:
        _crossings(
            tile_of,
            fan_ptr,
            fan_tile,
            s.chip.width,
            s.chip.height,
            s.chip.tiles,
            s.chips_x,
            east,
            west,
            north,
            south,
        )
    return east, west, north, south


@dataclass
class SystemUtilization:
    """Per-chip resource use and per-link traffic of a compiled system.

    Members
    -------
    chips : list of Utilization, one per chip
    crossings : dict of int arrays
        ``east``/``west`` [chips_x - 1, tiles_y] and ``north``/``south`` [chips_y - 1,
        tiles_x]: fan-out entries whose route crosses that link in that direction, i.e. the
        link's flits in a tick where every neuron spikes once.
    """

    system: SystemConfig
    chips: list
    crossings: dict
    compile_time: float = 0.0

    def flits_per_tick(self, rate: float) -> dict:
        """Expected flits per tick on every link when each neuron spikes with probability
        ``rate`` per tick (sources inject on their targets' own chips, crossing no link)."""
        return {k: v * float(rate) for k, v in self.crossings.items()}

    def link_summary(self, rate: float = 1.0) -> list[tuple[str, float, float]]:
        """(boundary, total flits per tick, busiest link's) for every chip boundary and
        direction; the boundary is named by the two chips it joins."""
        s, h, w = self.system, self.system.chip.height, self.system.chip.width
        out = []
        flits = self.flits_per_tick(rate)
        for b in range(s.chips_x - 1):
            for cy in range(s.chips_y):
                a, z = cy * s.chips_x + b, cy * s.chips_x + b + 1
                for d, arrow in (("east", "->"), ("west", "<-")):
                    part = flits[d][b, cy * h : (cy + 1) * h]
                    out.append(
                        (f"{s.chip_name(a)} {arrow} {s.chip_name(z)}", part.sum(), part.max())
                    )
        for b in range(s.chips_y - 1):
            for cx in range(s.chips_x):
                a, z = b * s.chips_x + cx, (b + 1) * s.chips_x + cx
                for d, arrow in (("north", "->"), ("south", "<-")):
                    part = flits[d][b, cx * w : (cx + 1) * w]
                    out.append(
                        (f"{s.chip_name(a)} {arrow} {s.chip_name(z)}", part.sum(), part.max())
                    )
        return out

    def report(self, rate: float = 1.0) -> str:
        """Per chip: neurons and the busiest core's use of each resource; per boundary: flits
        per tick at spike probability ``rate`` and the cycles the busiest link needs for them."""
        s = self.system
        lines = [
            f"{'chip':>9} {'neurons':>10} "
            + " ".join(f"{r + ' max':>14}" for r in C.Utilization.RESOURCES[1:])
        ]
        for c, u in enumerate(self.chips):
            cells = []
            for r in C.Utilization.RESOURCES[1:]:
                v, cap = int(getattr(u, r).max(initial=0)), u.capacity(r)
                cells.append(f"{v:>8,} {100 * v / cap:3.0f}%")
            cx, cy = s.chip_xy(c)
            lines.append(
                f"{f'({cx},{cy})':>9} {int(u.neurons.sum()):>10,} "
                + " ".join(f"{x:>14}" for x in cells)
            )
        links = self.link_summary(rate)
        if links:
            lines.append(
                f"chip-to-chip links at {rate:g} spikes per neuron per tick "
                f"({s.link_cycles_per_flit} cycles per flit, latency {s.link_latency} cycles):"
            )
            for name, total, busiest in links:
                lines.append(
                    f"  {name}: {total:,.1f} flits/tick, busiest link {busiest:,.1f} "
                    f"(>= {busiest * s.link_cycles_per_flit:,.0f} cycles)"
                )
        return "\n".join(lines)
