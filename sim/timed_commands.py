"""Host command streams as int64 arrays for the compiled timed model (sim/timed.py): rows
(op, tile_x, tile_y, arg, data), built from the loaders' command dicts or vectorised from an
image and its input raster."""

from __future__ import annotations

import numpy as np

from spikemesh.errors import SpikemeshError
from spikemesh.hostlink import ARG_BITS, Cmd

from ._timed_learn import DATA_LO_BITS

__all__ = ["command_array", "data_hi", "read_state_array", "run_command_array"]

_CMD_FIELDS = ("op", "tile_x", "tile_y", "arg", "data")
_DATA_TOP = DATA_LO_BITS + 62  # a command's data: two int64 columns


def data_hi(cmds) -> np.ndarray:
    """The (n, 1) column of a command array's data bits 62.. (zeros for an (n, 5) array)."""
    if cmds.shape[1] > len(_CMD_FIELDS):
        return cmds[:, len(_CMD_FIELDS) :]
    return np.zeros((cmds.shape[0], 1), dtype=np.int64)


def command_array(commands) -> np.ndarray:
    """Command dicts (firmware/loader.py) -> int64 rows (op, tile_x, tile_y, arg, data).

    A ``data`` of 62 bits or more (a learning profile's CONFIG_WRITE is 68 bits wide) makes
    the array (n, 6): ``data`` keeps bits 0..61 and a sixth column holds the rest."""
    if isinstance(commands, np.ndarray):
        arr = commands
        if arr.ndim != 2 or arr.shape[1] not in (len(_CMD_FIELDS), len(_CMD_FIELDS) + 1):
            raise SpikemeshError(
                f"a command array must have shape (n, 5) or (n, 6), not {arr.shape}"
            )
        arr = np.ascontiguousarray(arr, dtype=np.int64)
        if arr.size and arr.min() < 0:
            n = int(np.argwhere(arr < 0)[0, 0])
            raise SpikemeshError(f"command {n}: fields must be non-negative, not {arr[n].tolist()}")
        return arr
    arr = np.zeros((len(commands), len(_CMD_FIELDS)), dtype=np.int64)
    wide = {}  # row -> data bits 62.. (only a learning profile's words have them)
    for n, c in enumerate(commands):
        if not isinstance(c, dict):
            raise SpikemeshError(
                f"command {n} must be a dict of {', '.join(_CMD_FIELDS)} "
                f"(firmware/loader.py), not {c!r}"
            )
        for f, key in enumerate(_CMD_FIELDS):
            v = c.get(key, 0)
            if v is None or isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise SpikemeshError(f"command {n}: field {key!r} must be an integer, not {v!r}")
            top = _DATA_TOP if key == "data" else 62
            if not 0 <= v < 1 << top:
                raise SpikemeshError(
                    f"command {n}: field {key!r} = {v} is outside 0 .. 2**{top} - 1"
                )
            if v >> DATA_LO_BITS:
                wide[n] = int(v) >> DATA_LO_BITS
                v = int(v) & ((1 << DATA_LO_BITS) - 1)
            arr[n, f] = v
    if wide:
        hi = np.zeros((len(commands), 1), dtype=np.int64)
        hi[list(wide), 0] = list(wide.values())
        arr = np.concatenate([arr, hi], axis=1)
    return arr


def run_command_array(image, inputs, ticks) -> np.ndarray:
    """loader.run_commands(image, inputs, ticks) as a command array, built vectorised."""
    inputs = np.asarray(inputs, dtype=bool)
    if inputs.shape != (ticks, image.num_sources):
        raise SpikemeshError(
            f"inputs must have shape ({ticks}, {image.num_sources}), not {inputs.shape}"
        )
    if not 0 <= ticks < 1 << ARG_BITS:
        raise SpikemeshError(f"ticks must be between 0 and {(1 << ARG_BITS) - 1}, not {ticks}")
    ptr = np.asarray(image.src_ptr, dtype=np.int64)
    t_idx, s_idx = np.nonzero(inputs)  # row-major: tick by tick, sources in order
    cnt = ptr[s_idx + 1] - ptr[s_idx]
    k = np.repeat(ptr[s_idx] - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
    tick_of = np.repeat(t_idx, cnt)
    n_in = k.size
    rows = np.zeros((1 + n_in + ticks, 5), dtype=np.int64)
    rows[0, 0], rows[0, 3] = int(Cmd.RUN), ticks
    # each tick's inputs, then its END_TICK: row of input j = 1 + j + (its tick)
    per_tick = np.bincount(tick_of, minlength=ticks)
    end_rows = 1 + np.cumsum(per_tick) + np.arange(ticks)
    in_rows = 1 + np.arange(n_in) + tick_of
    rows[in_rows, 0] = int(Cmd.INPUT)
    rows[in_rows, 1] = np.asarray(image.src_x)[k]
    rows[in_rows, 2] = np.asarray(image.src_y)[k]
    rows[in_rows, 3] = np.asarray(image.src_axon)[k]
    rows[end_rows, 0] = int(Cmd.END_TICK)
    return rows


def read_state_array(image) -> np.ndarray:
    """loader.read_state_commands(image) as a command array."""
    chip = image.chip
    n = chip.core.neurons
    slot = np.asarray(image.neuron_slot, dtype=np.int64)
    t, i = slot // n, slot % n
    rows = np.zeros((slot.size, 5), dtype=np.int64)
    rows[:, 0] = int(Cmd.READ_STATE)
    rows[:, 1], rows[:, 2], rows[:, 3] = t % chip.width, t // chip.width, i
    return rows
