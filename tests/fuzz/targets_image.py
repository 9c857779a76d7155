"""Fuzz target: chip image files (firmware/image.py ChipImage.from_bytes / load)."""

from __future__ import annotations

import functools
import hashlib
import io
import json

import numpy as np
from hypothesis import strategies as st
from spikemesh.firmware.compiler import compile_network
from spikemesh.firmware.image import _HEADER, IMAGE_VERSION, MAGIC, ChipImage

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.netfile import load_network

from .harness import Target, expect_clean
from .strategies import EDGE_INTS, hostile_values

NET = """
populations:
  - {name: a, size: 20, vth: 50, v0: {uniform: [0, 3000], seed: 1}, record: true}
  - {name: b, size: 12, du: 100, dv: 200, refractory: 2}
sources:
  - {name: s, size: 4, spikes: [[0, 0], [1, 3]]}
projections:
  - {pre: s, post: a, connectivity: fixed_fanout, fanout: 5, seed: 2, weight: 100}
  - {pre: a, post: b, connectivity: fixed_probability, p: 0.3, seed: 3, weight: -20}
  - {pre: b, post: a, connectivity: all_to_all, weight: 3, weight_exp: 2}
"""


@functools.cache
def base_image() -> bytes:
    chip = ChipConfig(width=2, height=2, core=CoreConfig(neurons=16, axons=64, synapses=256))
    image, _ = compile_network(load_network(NET), chip)
    return image.to_bytes()


@functools.cache
def base_arrays() -> dict:
    data = base_image()
    with np.load(io.BytesIO(data[_HEADER.size :]), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def pack(arrays: dict, *, version=IMAGE_VERSION, magic=MAGIC, length=None) -> bytes:
    """An image file around ``arrays``, with a valid checksum (so the payload is parsed)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    payload = buf.getvalue()
    n = len(payload) if length is None else length
    return _HEADER.pack(magic, version, n, hashlib.sha256(payload).digest()) + payload


_DTYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64, np.float64, np.bool_, "U3"]


@st.composite
def hostile_array(draw, like: np.ndarray):
    """An array like ``like`` with its shape, dtype or values damaged."""
    op = draw(st.sampled_from(["values", "dtype", "shape", "empty", "scalar", "edges", "nan"]))
    arr = np.array(like)
    if op == "values" and arr.size:
        flat = arr.reshape(-1).astype(np.int64)
        k = draw(st.integers(0, flat.size - 1))
        flat[k] = draw(st.sampled_from([v for v in EDGE_INTS if abs(v) < 1 << 63]))
        return flat.reshape(arr.shape)
    if op == "dtype":
        return arr.astype(draw(st.sampled_from(_DTYPES)))
    if op == "shape":
        n = draw(st.integers(0, 3))
        return np.resize(arr, (arr.size + draw(st.integers(-3, 3))) % 50 if n else (2, 3, 2))
    if op == "empty":
        return arr.reshape(-1)[:0]
    if op == "scalar":
        return np.array(draw(st.integers(-(1 << 40), 1 << 40)))
    if op == "edges":
        return np.full(arr.shape, draw(st.sampled_from([-(1 << 63), (1 << 63) - 1, -1])))
    return np.full(arr.shape, np.nan)


@st.composite
def hostile_meta(draw, meta: dict):
    meta = json.loads(json.dumps(meta))
    chip = meta["chip"]
    op = draw(st.sampled_from(["chip", "core", "key", "names", "drop", "text"]))
    if op == "chip":
        chip[draw(st.sampled_from([*chip, "bogus"]))] = draw(hostile_values(1))
    elif op == "core":
        chip["core"][draw(st.sampled_from([*chip["core"], "bogus"]))] = draw(hostile_values(1))
    elif op == "key":
        meta[draw(st.sampled_from(["population_names", "network_name", "x"]))] = draw(
            hostile_values(1)
        )
    elif op == "names":
        meta["population_names"] = draw(hostile_values())
    elif op == "drop":
        meta.pop(draw(st.sampled_from(sorted(meta))))
    else:
        return draw(st.binary(max_size=40))
    try:
        return json.dumps(meta, allow_nan=True).encode()
    except (TypeError, ValueError):
        return b"{"


@st.composite
def image_files(draw):
    """Image bytes: byte-level damage of a real image, or a re-packed damaged payload."""
    data = base_image()
    kind = draw(st.sampled_from(["bytes", "header", "arrays", "arrays", "meta", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "bytes":
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "truncate", "append"]))
            if op == "flip" and data:
                k = draw(st.integers(0, len(data) - 1))
                data[k] ^= 1 << draw(st.integers(0, 7))
            elif op == "truncate":
                data = data[: draw(st.integers(0, len(data)))]
            elif op == "append":
                data += draw(st.binary(min_size=1, max_size=16))
        return bytes(data)
    arrays = dict(base_arrays())
    if kind == "header":
        return pack(
            arrays,
            version=draw(st.sampled_from([0, 1, 2, 0xFFFFFFFF])),
            magic=draw(st.sampled_from([MAGIC, b"SPKMIMG\x01", b"\0" * 8])),
            length=draw(st.sampled_from([None, 0, 1 << 63, (1 << 64) - 1])),
        )
    if kind == "meta":
        meta = json.loads(arrays["meta"].tobytes().decode())
        arrays["meta"] = np.frombuffer(draw(hostile_meta(meta)), dtype=np.uint8)
        return pack(arrays)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(arrays)))
        op = draw(st.sampled_from(["damage", "damage", "damage", "drop", "extra"]))
        if op == "damage":
            arrays[key] = draw(hostile_array(arrays[key]))
        elif op == "drop":
            arrays.pop(key)
        else:
            arrays[f"core{draw(st.integers(0, 9))}.extra"] = np.zeros(3)
    return pack(arrays)


def check_image(data: bytes):
    img = expect_clean(ChipImage.from_bytes, data, where="fuzz.img")
    if isinstance(img, ChipImage):
        # What loads must be usable: its own bytes load back equal.
        assert ChipImage.from_bytes(img.to_bytes()) == img
    return img


TARGETS = [Target("image", image_files(), check_image, ci_examples=150)]
