"""The checks of the network API's inputs (spikemesh/network.py, spikemesh/connectivity.py):
each error names the parameter, the value and the limit, and :func:`param` tags it with
its key for the YAML loader."""

from __future__ import annotations

import functools
from contextlib import contextmanager

import numpy as np

from .errors import NetworkError

NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


@contextmanager
def param(key):
    """Tag a NetworkError raised inside with the parameter it is about.

    The YAML loader (netfile.py) turns ``key`` into a key path and line number,
    so one set of checks serves the Python API and the file format alike.
    """
    try:
        yield
    except NetworkError as e:
        if getattr(e, "key", None) is None:
            e.key = key
        raise


def memory_error(describe):
    """Turn numpy's MemoryError inside a building method into a NetworkError.

    A population or projection can ask for more than the machine holds (2**24 neurons onto
    2**24 all-to-all is 2**48 synapses); numpy's message names the array it could not make.
    """

    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except MemoryError as e:
                raise NetworkError(
                    f"{describe(*args)} needs more memory than this machine has ({e}); "
                    "make it smaller"
                ) from None

        return guarded

    return wrap


def check_name(name, what):
    if not isinstance(name, str) or not name or not set(name) <= NAME_OK:
        raise NetworkError(
            f"{what} name must be a non-empty string of letters, digits, '_', '-', '.', "
            f"not {name!r}"
        )


def as_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise NetworkError(f"{what} must be an integer, not {value!r}")
    return int(value)


def check_in(value, lo, hi, what):
    v = as_int(value, what)
    if not lo <= v <= hi:
        raise NetworkError(f"{what} must be between {lo:,} and {hi:,}, not {v:,}")
    return v


I64_MAX = (1 << 63) - 1
BORROWED_SEED_STREAM = 0x5EED_0F_3E16  # spawn key of ranges that borrow a seed


def int_array(values, n, lo, hi, what, *, seed=None):
    """Per-element integers from a scalar, a sequence of length n, or a seeded uniform range.

    ``{"uniform": [lo, hi]}`` draws integers from the half-open range [lo, hi).
    """
    if isinstance(values, dict):
        keys = set(values)
        if keys - {"uniform", "seed"} or "uniform" not in keys:
            raise NetworkError(
                f"{what}: a random range is written {{uniform: [lo, hi], seed: S}}, not {values!r}"
            )
        rng_spec = values["uniform"]
        if not (isinstance(rng_spec, (list, tuple)) and len(rng_spec) == 2):
            raise NetworkError(f"{what}: uniform needs [lo, hi], not {rng_spec!r}")
        a = as_int(rng_spec[0], f"{what} uniform lo")
        b = as_int(rng_spec[1], f"{what} uniform hi")
        if b <= a:
            raise NetworkError(f"{what}: uniform range [{a}, {b}) is empty")
        if a < lo or b - 1 > hi:
            raise NetworkError(f"{what}: uniform range [{a}, {b}) must lie within {lo:,}..{hi:,}")
        own = "seed" in values
        s = values["seed"] if own else seed
        if s is None:
            raise NetworkError(f"{what}: a random range needs a seed")
        s = as_int(s, f"{what} seed")
        if s < 0:
            raise NetworkError(f"{what} seed must be >= 0, not {s}")
        # Without a seed of its own, the range borrows the caller's (e.g. a projection's
        # connectivity seed); it must then draw from an independent stream, or with
        # fixed_fanout the weights would repeat the target draws (r = 0.97 seen).
        rng = np.random.default_rng(s if own else [s, BORROWED_SEED_STREAM])
        return rng.integers(a, b, size=n, dtype=np.int64)
    if np.isscalar(values) or isinstance(values, (int, np.integer)):
        v = check_in(values, lo, hi, what)
        return np.full(n, v, dtype=np.int64)
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):  # ragged nesting, unconvertible objects
        raise NetworkError(
            f"{what} must be an integer, a list of integers, or a uniform range"
        ) from None
    if arr.size == 0 and n == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == object or arr.dtype.kind not in "iub":
        raise NetworkError(f"{what} must contain integers, not {arr.dtype} values")
    if arr.dtype.kind == "b":
        raise NetworkError(f"{what} must contain integers, not booleans")
    if arr.shape != (n,):
        raise NetworkError(f"{what} must have {n:,} entries, not {arr.size:,} (shape {arr.shape})")
    arr = arr.astype(np.int64)
    if n and (arr.min() < lo or arr.max() > hi):
        bad = int(np.flatnonzero((arr < lo) | (arr > hi))[0])
        raise NetworkError(f"{what}[{bad}] = {int(arr[bad]):,} is outside {lo:,}..{hi:,}")
    return arr
