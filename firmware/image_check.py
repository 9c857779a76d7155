"""Checks of a chip image's payload before it is used (firmware/image.py's load path).

An image file's payload is a numpy archive, so a damaged or hand-made file can hold any
dtype and shape under a table's name: floats (NaN), strings, 2-D arrays, uint64 values past
int64. :func:`check_payload` refuses those with an :class:`~spikemesh.errors.ImageError`
naming the table, before :meth:`ChipImage.check` compares the values with the chip;
:func:`check_mapping` checks the host-side tables (neuron placement, input table,
recorded neurons, populations) that the loaders and ``decode_run`` index with.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib

import numpy as np

from spikemesh.config import ChipConfig
from spikemesh.coreimage import LEARN_ARRAYS, NPROF, CoreImage
from spikemesh.errors import ConfigError, ImageError
from spikemesh.plasticity import LEARN_PROFILES, PROFILE_COLUMNS

# Tables of the payload and their dimensions (host_out is boolean, all others integers).
_TOP = {
    "neuron_slot": 1,
    "src_ptr": 1,
    "src_x": 1,
    "src_y": 1,
    "src_axon": 1,
    "recorded": 1,
    "population_offsets": 1,
}
_CORE = {name: (2 if name == "profiles" else 1) for name in CoreImage.ARRAYS}
_I64 = np.iinfo(np.int64)
MAX_META_BYTES = 16 << 20
# Tables whose size the chip does not bound (the host-side input table, tables other
# versions add) may expand at most this much over their compressed size, plus a slack:
# a legitimate table compresses far less, a zip bomb far more.
MAX_EXPANSION = 256
SLACK_ELEMENTS = 1 << 20
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
               NotImplementedError, RuntimeError, OverflowError)  # fmt: skip


def _core_bound(chip: ChipConfig, name: str) -> int:
    c = chip.core
    if name == "profiles":
        return c.profiles * NPROF
    if name in ("axon_base", "axon_len", "axon_exp", "axon_delay"):
        return c.axons
    if name in ("syn_target", "syn_weight"):
        return c.synapses
    if name in ("fan_x", "fan_y", "fan_axon"):
        return c.fanout
    return c.neurons


def _learn_bound(chip: ChipConfig, name: str) -> int:
    c = chip.core
    if name == "learn_profiles":
        return LEARN_PROFILES * len(PROFILE_COLUMNS)
    if name == "axon_learn":
        return c.axons
    if name in ("rev_syn", "rev_axon"):
        return c.synapses
    return c.neurons


def _bound(chip: ChipConfig, name: str, info: zipfile.ZipInfo) -> int:
    """The most elements table ``name`` can hold in an image for ``chip``."""
    if name in ("neuron_slot", "recorded"):
        return chip.neurons
    if name == "population_offsets":
        return chip.neurons + 1
    tile, dot, table = name.partition(".")
    if dot and tile.startswith("core") and table in CoreImage.ARRAYS:
        return _core_bound(chip, table)
    if dot and tile.startswith("core") and table in LEARN_ARRAYS:
        return _learn_bound(chip, table)
    return SLACK_ELEMENTS + MAX_EXPANSION * info.compress_size


def read_payload(payload: bytes, where: str):
    """(meta, chip, arrays) of an image payload, each table's size checked before it is read.

    A table's size is read from its ``.npy`` header and compared with what the chip named in
    the metadata can hold, so a damaged or hostile file (a shape of 2**40 elements, a
    zip bomb) is refused before anything is decompressed.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(payload))
        infos = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
        heads = {}
        for name, info in infos.items():
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            if dtype.hasobject:
                raise ImageError(f"{where}: table {name} holds Python objects")
            heads[name] = (math.prod(shape), dtype)

        def load(name):
            with zf.open(infos[name]) as f:
                return np.lib.format.read_array(f, allow_pickle=False)

        if "meta" not in heads:
            raise ImageError(f"{where}: image payload has no metadata (meta)")
        n, dtype = heads["meta"]
        if n * dtype.itemsize > MAX_META_BYTES:
            raise ImageError(
                f"{where}: image metadata takes {n * dtype.itemsize:,} bytes, at most "
                f"{MAX_META_BYTES:,}"
            )
        try:
            meta = json.loads(load("meta").tobytes().decode())
        except (ValueError, RecursionError) as e:
            raise ImageError(f"{where}: image metadata is not JSON ({e})") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("chip"), dict):
            raise ImageError(f"{where}: image metadata holds no chip config")
        try:
            chip = ChipConfig.from_dict(meta["chip"])
        except ConfigError as e:
            raise ImageError(f"{where}: image holds an invalid chip config: {e}") from None
        except TypeError as e:
            raise ImageError(f"{where}: image holds an invalid chip config: {e}") from None
        for name, (n, _) in heads.items():
            if name != "meta" and n > _bound(chip, name, infos[name]):
                raise ImageError(
                    f"{where}: table {name} has {n:,} elements, more than a "
                    f"{chip.width} x {chip.height} chip's image holds "
                    f"({_bound(chip, name, infos[name]):,})"
                )
        arrays = {name: load(name) for name in heads if name != "meta"}
    except ImageError:
        raise
    except _ZIP_ERRORS as e:
        raise ImageError(f"{where}: image payload is not a readable archive ({e})") from None
    return meta, chip, check_payload(arrays, meta, chip.tiles, where)


def table_ints(where, name, arr, ndim):
    """``arr`` as int64 if it is an integer table of ``ndim`` dimensions, else ImageError."""
    return _table(where, name, arr, ndim)


def _table(where, name, arr, ndim):
    if arr.ndim != ndim:
        raise ImageError(f"{where}: table {name} has shape {arr.shape}, expected {ndim}-D")
    if name.endswith("host_out"):
        if arr.dtype.kind != "b":
            raise ImageError(f"{where}: table {name} holds {arr.dtype} values, expected booleans")
        return arr
    if arr.dtype.kind not in "iu":
        raise ImageError(f"{where}: table {name} holds {arr.dtype} values, expected integers")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > _I64.max:
        raise ImageError(f"{where}: table {name} holds {int(arr.max()):,}, past int64")
    return arr.astype(np.int64, copy=False)


def check_payload(arrays: dict, meta, tiles: int, where: str) -> dict:
    """The payload's tables as int64 (bool for host_out), or ImageError naming what is wrong.

    ``meta`` is the decoded JSON; ``tiles`` the chip's tile count (from its config).
    """
    if not isinstance(meta, dict):
        raise ImageError(
            f"{where}: image metadata must be a JSON object, not {type(meta).__name__}"
        )
    names = meta.get("population_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ImageError(f"{where}: image metadata population_names must be a list of names")
    if not isinstance(meta.get("network_name"), str):
        raise ImageError(f"{where}: image metadata network_name must be a string")
    out = dict(arrays)
    wanted = dict(_TOP)
    wanted.update({f"core{t}.{n}": d for t in range(tiles) for n, d in _CORE.items()})
    for name, ndim in wanted.items():
        if name not in arrays:
            if name.endswith(".axon_delay"):  # images before delays (version <= 3) lack it
                continue
            raise ImageError(f"{where}: image payload has no table {name}")
        out[name] = _table(where, name, arrays[name], ndim)
    return out


def check_mapping(img) -> None:
    """Raise ImageError unless the host-side tables fit the chip and the network they map."""
    c = img.chip
    slots = img.neuron_slot
    if np.unique(slots).size != slots.size:
        raise ImageError("neuron_slot places two neurons on one slot")
    n = slots.size
    if not (img.src_x.size == img.src_y.size == img.src_axon.size):
        raise ImageError(
            f"input table columns differ in length ({img.src_x.size}, {img.src_y.size}, "
            f"{img.src_axon.size})"
        )
    for name, hi in (
        ("src_x", c.width - 1),
        ("src_y", c.height - 1),
        ("src_axon", c.core.axons - 1),
    ):
        arr = getattr(img, name)
        if arr.size and (arr.min() < 0 or arr.max() > hi):
            raise ImageError(
                f"input table {name} holds {int(arr.min())}..{int(arr.max())}, the chip has 0..{hi}"
            )
    rec = img.recorded
    if rec.size and (rec.min() < 0 or rec.max() >= n):
        raise ImageError(f"recorded names neurons outside 0..{n - 1}")
    off = img.population_offsets
    if (
        off.size != len(img.population_names) + 1
        or off[0] != 0
        or off[-1] != n
        or np.any(np.diff(off) < 0)
    ):
        raise ImageError(
            f"population_offsets {off.tolist()[:8]} do not split {n} neurons into "
            f"{len(img.population_names)} populations"
        )
