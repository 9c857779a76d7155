"""The chip image: one network compiled for one chip, and its file format.

File layout (all integers little-endian)::

    offset  size  field
    0       8     magic  b"SPKMIMG\\0"
    8       4     format version (uint32), currently IMAGE_VERSION (4); version 1
                  (before fault maps) still loads, as a fault-free image; versions
                  1 and 2 (profiles of 6 columns, before reset modes) load with
                  every profile's reset = zero; versions 1-3 (before synaptic
                  delays) load with every axon's delay = 1
    12      8     payload length in bytes (uint64)
    20      32    SHA-256 of the payload
    52      ...   payload: a numpy .npz archive (no pickles) holding the chip
                  config as JSON, the mapping tables and every core's tables;
                  since version 2 also the fault map (JSON, null when fault-free)
                  and, with dead links or routers, the routers' route tables
                  ``route_table`` [tiles, codes] and ``link_off`` [tiles];
                  since version 3 every core's ``profiles`` has 7 columns
                  (PROFILE_COLUMNS, the last one the reset mode); since version 4
                  every core's ``axon_delay`` (1..CoreConfig.max_delay) and the
                  chip config's ``core.max_delay``; version 5 is written only for
                  plastic networks: every core's learning tables
                  ``core<t>.learn_profiles``, ``axon_learn``, ``post_learn``,
                  ``rev_base``, ``rev_len``, ``rev_syn``, ``rev_axon``
                  (coreimage.CoreLearning, docs/learning.md); an image of a fixed
                  network is still version 4, byte for byte as before

A file with another magic, another version, a short payload or a checksum
mismatch is refused with an :class:`~spikemesh.errors.ImageError` that says
which.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikemesh.config import ChipConfig
from spikemesh.coreimage import LEARN_ARRAYS, NPROF, CoreImage, CoreLearning
from spikemesh.errors import ConfigError, ImageError
from spikemesh.faults import FaultMap
from spikemesh.noc import RouteTables

from .image_check import check_mapping, read_payload, table_ints

MAGIC = b"SPKMIMG\0"
IMAGE_VERSION = 4  # of an image without learning tables
LEARNING_VERSION = 5  # of an image with them (a plastic network)
READABLE_VERSIONS = (1, 2, 3, 4, 5)
_HEADER = struct.Struct("<8sIQ32s")


@dataclass(eq=False)
class ChipImage:
    """Everything needed to run one network on one chip.

    Members
    -------
    chip : ChipConfig
    cores : list of CoreImage, indexed by tile = y * width + x
    neuron_slot : int [N]
        Network neuron id -> chip slot (tile * core.neurons + index in core).
    src_ptr, src_x, src_y, src_axon : int arrays
        Host-side input table: source s sends flits to
        (src_x[k], src_y[k]) axon src_axon[k] for k in src_ptr[s]..src_ptr[s+1]-1.
    recorded : int [R]
        Network ids of recorded neurons.
    population_names, population_offsets
        For mapping results back to populations.
    faults : FaultMap or None
        The dead links, routers and cores the image was compiled for (None: fault-free).
    routing : RouteTables or None
        The routers' route tables around dead links or routers (None: XY routing).
    """

    chip: ChipConfig
    cores: list
    neuron_slot: np.ndarray
    src_ptr: np.ndarray
    src_x: np.ndarray
    src_y: np.ndarray
    src_axon: np.ndarray
    recorded: np.ndarray
    population_names: list = field(default_factory=list)
    population_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    network_name: str = "network"
    faults: FaultMap | None = None
    routing: RouteTables | None = None
    learning: list | None = None  # CoreLearning per tile for a plastic network, else None

    def set_flat_tables(self, **tables):
        """Record the flat arrays the cores' axon and synapse tables are views of (compiler)."""
        self._flat = tables

    def flat_tables(self) -> dict:
        """Every core's axon and synapse tables as flat arrays (tile-major), for the image walk.

        ``axon_*`` are [tiles * axons]; ``syn_*`` are concatenated, core t's starting at
        ``syn_off[t]``. Views of the compiler's arrays when it made this image, else copies.
        """
        flat = getattr(self, "_flat", None)
        if flat is None:
            c = self.cores
            sizes = np.array([x.syn_target.size for x in c], dtype=np.int64)
            flat = {
                "axon_base": np.concatenate([x.axon_base for x in c]).astype(np.int32),
                "axon_len": np.concatenate([x.axon_len for x in c]).astype(np.int32),
                "axon_exp": np.concatenate([x.axon_exp for x in c]).astype(np.uint8),
                "axon_delay": np.concatenate([x.axon_delay for x in c]).astype(np.uint8),
                "syn_target": np.concatenate([x.syn_target for x in c]).astype(np.uint16),
                "syn_weight": np.concatenate([x.syn_weight for x in c]).astype(np.int8),
                "syn_off": np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
            }
            self._flat = flat
        return flat

    @property
    def num_neurons(self) -> int:
        return int(self.neuron_slot.size)

    @property
    def num_sources(self) -> int:
        return int(self.src_ptr.size - 1)

    def core(self, x: int, y: int) -> CoreImage:
        return self.cores[y * self.chip.width + x]

    def check(self) -> None:
        """Raise ImageError unless every table is consistent with the chip config."""
        c = self.chip
        if len(self.cores) != c.tiles:
            raise ImageError(f"image has {len(self.cores)} cores, the chip has {c.tiles}")
        for t, img in enumerate(self.cores):
            img.check(c, where=f"core ({t % c.width},{t // c.width})")
        if self.neuron_slot.size and (
            self.neuron_slot.min() < 0 or self.neuron_slot.max() >= c.neurons
        ):
            raise ImageError("neuron_slot points outside the chip")
        if (
            self.src_ptr.size < 1
            or self.src_ptr[0] != 0
            or np.any(np.diff(self.src_ptr) < 0)
            or self.src_ptr[-1] != self.src_axon.size
        ):
            raise ImageError("input table pointers are inconsistent")
        check_mapping(self)
        self.check_faults()
        if self.learning is not None:
            if len(self.learning) != c.tiles:
                raise ImageError(
                    f"image has learning tables for {len(self.learning)} cores, the chip has "
                    f"{c.tiles}"
                )
            for t, (img, lt) in enumerate(zip(self.cores, self.learning, strict=True)):
                lt.check(img, c, where=f"core ({t % c.width},{t // c.width})")

    def __eq__(self, other):
        if not isinstance(other, ChipImage):
            return NotImplemented
        arrays = (
            "neuron_slot",
            "src_ptr",
            "src_x",
            "src_y",
            "src_axon",
            "recorded",
            "population_offsets",
        )
        return (
            self.chip == other.chip
            and self.cores == other.cores
            and all(np.array_equal(getattr(self, k), getattr(other, k)) for k in arrays)
            and list(self.population_names) == list(other.population_names)
            and self.network_name == other.network_name
            and self.faults == other.faults
            and self.routing == other.routing
            and self.learning == other.learning
        )

    # --- file format ---
    def to_bytes(self) -> bytes:
        arrays = {
            "meta": np.frombuffer(
                json.dumps(
                    {
                        "chip": self.chip.to_dict(),
                        "population_names": list(self.population_names),
                        "network_name": self.network_name,
                        "faults": None if self.faults is None else self.faults.to_dict(),
                    }
                ).encode(),
                dtype=np.uint8,
            ),
            "neuron_slot": self.neuron_slot,
            "src_ptr": self.src_ptr,
            "src_x": self.src_x,
            "src_y": self.src_y,
            "src_axon": self.src_axon,
            "recorded": self.recorded,
            "population_offsets": self.population_offsets,
        }
        if self.routing is not None:
            arrays["route_table"] = self.routing.table
            arrays["link_off"] = self.routing.link_off
        for t, img in enumerate(self.cores):
            for name in CoreImage.ARRAYS:
                arrays[f"core{t}.{name}"] = getattr(img, name)
        version = IMAGE_VERSION
        if self.learning is not None:
            version = LEARNING_VERSION
            for t, lt in enumerate(self.learning):
                for name in LEARN_ARRAYS:
                    arrays[f"core{t}.{name}"] = getattr(lt, name)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        payload = buf.getvalue()
        return (
            _HEADER.pack(MAGIC, version, len(payload), hashlib.sha256(payload).digest()) + payload
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str = "image") -> ChipImage:
        if len(data) < _HEADER.size:
            raise ImageError(
                f"{where}: {len(data)} bytes is too short for a spikemesh image header"
            )
        magic, version, length, digest = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise ImageError(f"{where}: not a spikemesh image (bad magic {magic!r})")
        if version not in READABLE_VERSIONS:
            raise ImageError(
                f"{where}: image format version {version}; this spikemesh reads versions "
                f"{IMAGE_VERSION} and {LEARNING_VERSION} (with learning tables), and versions "
                "1-3 (zero reset only before 3, delays of 1 before 4) (recompile the network)"
            )
        payload = data[_HEADER.size :]
        if len(payload) != length:
            raise ImageError(
                f"{where}: image is truncated or padded: header says {length:,} payload "
                f"bytes, the file has {len(payload):,}"
            )
        if hashlib.sha256(payload).digest() != digest:
            raise ImageError(f"{where}: image is corrupted (SHA-256 checksum mismatch)")
        try:
            meta, chip, arrays = read_payload(payload, where)
            cores = []
            for t in range(chip.tiles):
                if version >= 4 and f"core{t}.axon_delay" not in arrays:
                    raise ImageError(f"{where}: image payload has no table core{t}.axon_delay")
                tables = {
                    n: arrays[f"core{t}.{n}"]
                    for n in CoreImage.ARRAYS
                    if version >= 4 or n != "axon_delay"  # before delays: all 1 (default)
                }
                tables["profiles"] = _old_profiles(tables["profiles"], version)
                cores.append(CoreImage(**tables))
            img = cls(
                chip=chip,
                cores=cores,
                neuron_slot=arrays["neuron_slot"],
                src_ptr=arrays["src_ptr"],
                src_x=arrays["src_x"],
                src_y=arrays["src_y"],
                src_axon=arrays["src_axon"],
                recorded=arrays["recorded"],
                population_names=meta["population_names"],
                population_offsets=arrays["population_offsets"],
                network_name=meta["network_name"],
                **_fault_fields(chip, meta, arrays, version),
                learning=_learning(arrays, chip, version, where),
            )
        except ImageError:
            raise
        except ConfigError as e:
            raise ImageError(f"{where}: image holds an invalid chip config: {e}") from None
        except (KeyError, ValueError, TypeError) as e:
            raise ImageError(f"{where}: image payload is malformed ({e})") from None
        img.check()
        return img

    def refuse_learning(self, backend: str) -> None:
        """Raise ImageError if this image learns and ``backend`` cannot run learning (every
        model but the functional TLM's plastic path, sim/_stdp_image.py, so far)."""
        if self.learning is not None:
            raise ImageError(
                f"backend {backend!r} cannot run an image with learning tables: plasticity "
                "runs on golden and -b tlm only so far (docs/learning.md)"
            )

    def check_faults(self) -> None:
        """Raise ImageError unless the fault map and route tables fit the chip and each other
        and no neuron sits on a dead core."""
        c = self.chip
        if self.faults is None:
            if self.routing is not None:
                raise ImageError("image has route tables but no fault map")
            return
        try:
            self.faults.check_chip(c)
        except ConfigError as e:
            raise ImageError(str(e)) from None
        if self.faults.channels and self.routing is None:
            raise ImageError("image has dead links but no route tables around them")
        dead = np.array(sorted(set(range(c.tiles)) - set(self.faults.live_tiles())), dtype=np.int64)
        on_dead = np.isin(self.neuron_slot // c.core.neurons, dead)
        if on_dead.any():
            t = int(self.neuron_slot[np.argmax(on_dead)] // c.core.neurons)
            raise ImageError(
                f"image places neurons on the dead core ({t % c.width},{t // c.width})"
            )

    def save(self, path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path) -> ChipImage:
        p = Path(path)
        if not p.exists():
            raise ImageError(f"image file {p} does not exist")
        return cls.from_bytes(p.read_bytes(), where=str(p))


def _old_profiles(prof, version):
    """A version 1-2 profile table (6 columns, before reset modes) with reset = zero added;
    any other shape is left for CoreImage.check to refuse."""
    if version < 3 and prof.ndim == 2 and prof.shape[1] == NPROF - 1:
        return np.concatenate([prof, np.zeros((prof.shape[0], 1), dtype=prof.dtype)], axis=1)
    return prof


def _fault_fields(chip, meta, arrays, version) -> dict:
    """The fault map and route tables of a version-2 payload (none in version 1)."""
    if version < 2 or meta.get("faults") is None:
        if "route_table" in arrays:
            raise ImageError("image has route tables but no fault map")
        return {}
    faults = FaultMap.from_dict(meta["faults"], chip=chip, where="image fault map")
    routing = None
    if "route_table" in arrays:
        routing = RouteTables(chip, arrays["route_table"], arrays["link_off"], order="image")
    return {"faults": faults, "routing": routing}


def _learning(arrays, chip, version, where):
    """The cores' learning tables of a version-5 payload (None before version 5)."""
    if version < LEARNING_VERSION:
        return None
    out = []
    for t in range(chip.tiles):
        tables = {}
        for name in LEARN_ARRAYS:
            key = f"core{t}.{name}"
            if key not in arrays:
                raise ImageError(f"{where}: image payload has no table {key}")
            tables[name] = table_ints(where, key, arrays[key], 2 if name == "learn_profiles" else 1)
        out.append(CoreLearning(**tables))
    return out
