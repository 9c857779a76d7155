"""Host-side loading and running of a chip image over the host link.

The host link speaks the command/response words of ``spikemesh.hostlink``.
This module turns an image into those words and responses back into a
:class:`~spikemesh.golden.Result`; the transports (cocotb streams in
tb/chip, the timed TLM, the UART bridge of a board) only move the words.
"""

from __future__ import annotations

import numpy as np

from spikemesh.config import host_source_layout
from spikemesh.errors import SpikemeshError
from spikemesh.golden import Result
from spikemesh.hostlink import Cmd, Rsp, command_layout, response_layout
from spikemesh.layouts import config_data_bits, core_config_writes


def command(op, *, tile_x=0, tile_y=0, arg=0, data=0) -> dict:
    return {
        "op": int(op),
        "tile_x": int(tile_x),
        "tile_y": int(tile_y),
        "arg": int(arg),
        "data": int(data),
    }


def host_schedule(seed: int, *, length: int = 4096, stall: int = 1500) -> tuple:
    """A seeded ready/valid schedule of the chip's host ports (docs/hostlink.md,
    "Backpressure"): ``(valid, ready)``, two uint8 arrays of ``length`` entries; cycle c
    uses entry ``c % length``.

    ``valid[c]``: the host may raise ``i_cmd.valid`` in cycle c (once raised it holds until
    the transfer, the stream rule); ``ready[c]``: ``o_rsp.ready`` in cycle c. Random idle
    and stall cycles throughout, plus one long stall of each (``o_rsp.ready`` low for
    ``stall`` cycles, ``i_cmd.valid`` for a third of that) at seeded places.
    """
    if not 16 <= length <= 1 << 20:
        raise SpikemeshError(f"a host schedule's length must be between 16 and 2**20, not {length}")
    if not 0 <= stall < length:
        raise SpikemeshError(
            f"the long stall ({stall}) must be shorter than the schedule ({length})"
        )
    rng = np.random.default_rng(seed)
    valid = rng.random(length) < rng.uniform(0.3, 0.9)
    ready = rng.random(length) < rng.uniform(0.3, 0.9)
    for arr, n in ((ready, stall), (valid, stall // 3)):
        arr[(int(rng.integers(0, length)) + np.arange(n)) % length] = False
    # at least one cycle of each in every period, or the run would never end
    valid[int(rng.integers(0, length))] = ready[int(rng.integers(0, length))] = True
    return valid.astype(np.uint8), ready.astype(np.uint8)


def check_schedule(schedule) -> tuple:
    """``schedule`` (a pair of 0/1 sequences of one length, see :func:`host_schedule`) as two
    uint8 arrays; SpikemeshError naming what is wrong."""
    try:
        valid, ready = schedule
    except (TypeError, ValueError):
        raise SpikemeshError(
            f"a host schedule is a pair (valid, ready) of 0/1 sequences, not {schedule!r}"
        ) from None
    out = []
    for name, seq in (("valid", valid), ("ready", ready)):
        arr = np.asarray(seq)
        if arr.ndim != 1 or arr.size == 0 or not np.isin(arr, (0, 1)).all():
            raise SpikemeshError(f"the schedule's {name} must be a non-empty sequence of 0 and 1")
        if not arr.any():
            raise SpikemeshError(f"the schedule's {name} is never 1: the run would never end")
        out.append(arr.astype(np.uint8))
    if out[0].size != out[1].size:
        raise SpikemeshError(
            f"the schedule's valid and ready differ in length ({out[0].size} vs {out[1].size})"
        )
    return out[0], out[1]


def config_commands(image) -> list[dict]:
    """CONFIG_WRITE commands that load every core of ``image``."""
    chip = image.chip
    cmds = []
    for t, core in enumerate(image.cores):
        x, y = t % chip.width, t // chip.width
        for addr, data in core_config_writes(chip, core):
            cmds.append(command(Cmd.CONFIG_WRITE, tile_x=x, tile_y=y, arg=addr, data=data))
    return cmds


def route_commands(image) -> list[dict]:
    """The CONFIG_WRITEs to the ROUTE region (spikemesh.layouts) that load the image's route
    tables and disabled links (``image.routing``) into a chip with ``router.route_tables``,
    whose routers start as XY: every entry that differs from XY, then each router's link_off
    that is not zero. As a chip receives its manufacturing test's result, they go over the
    host link with every load (direct or host link) before the first RUN. Empty for an image
    without route tables.

    Raises SpikemeshError when the image has route tables and its chip has none.
    """
    if image.routing is None:
        return []
    chip = image.chip
    if not chip.router.route_tables:
        raise SpikemeshError(
            "the image routes around dead links or routers, but its chip has no route "
            "tables: compile it for a chip with router.route_tables: true "
            "(spikemesh.faults.with_route_tables)"
        )
    from spikemesh.faultroute import route_writes
    from spikemesh.layouts import RouteIndex, route_config_word

    cmds = []
    for w in route_writes(chip, image.routing):
        if w["link"]:
            addr, data = route_config_word(chip, RouteIndex.LINK_OFF, link_off=w["data"])
        else:
            addr, data = route_config_word(chip, RouteIndex.TABLE, port=w["data"], entry=w["index"])
        x, y = w["tile"] % chip.width, w["tile"] // chip.width
        cmds.append(command(Cmd.CONFIG_WRITE, tile_x=x, tile_y=y, arg=addr, data=data))
    return cmds


def run_commands(image, inputs: np.ndarray, ticks: int) -> list[dict]:
    """RUN ``ticks``, then each tick's INPUT events (from the input raster) and END_TICK."""
    inputs = np.asarray(inputs, dtype=bool)
    if inputs.shape != (ticks, image.num_sources):
        raise SpikemeshError(
            f"inputs must have shape ({ticks}, {image.num_sources}), not {inputs.shape}"
        )
    cmds = [command(Cmd.RUN, arg=ticks)]
    ptr, sx, sy, sa = image.src_ptr, image.src_x, image.src_y, image.src_axon
    for t in range(ticks):
        for s in np.flatnonzero(inputs[t]):
            for k in range(ptr[s], ptr[s + 1]):
                cmds.append(command(Cmd.INPUT, tile_x=sx[k], tile_y=sy[k], arg=sa[k]))
        cmds.append(command(Cmd.END_TICK))
    return cmds


def counter_commands(chip) -> list[dict]:
    """Read every hardware counter (docs/counters.md): ``RUN 0`` first, which waits until the
    running tick has ended and its TICK_DONE has left (and starts nothing), then one
    READ_COUNTER per register in index order: tile by tile (y * width + x) the 16 of
    ``HW_TILE_REGISTERS``, then host_injected and cycles (addressed to tile (0, 0)).
    Decoded by :func:`decode_counters`. Needs a chip with ``counter_bits`` > 0."""
    from spikemesh.counters import HW_INDEXES, HW_TILE_COUNT

    if not chip.counter_bits:
        raise SpikemeshError(
            "reading the hardware counters needs a chip built with them "
            "(ChipConfig.counter_bits > 0, e.g. spikemesh.counters.COUNTER_BITS)"
        )
    cmds = [command(Cmd.RUN, arg=0)]
    for t in range(chip.tiles):
        x, y = t % chip.width, t // chip.width
        cmds += [command(Cmd.READ_COUNTER, tile_x=x, tile_y=y, arg=k) for k in range(HW_TILE_COUNT)]
    cmds += [command(Cmd.READ_COUNTER, arg=k) for k in range(HW_TILE_COUNT, HW_INDEXES)]
    return cmds


def segmented_run_commands(image, inputs, ticks: int, every: int | None) -> list[dict]:
    """:func:`run_commands` with every hardware counter read (:func:`counter_commands`)
    after each ``every`` ticks (RUN segments of ``every`` ticks) and after the last;
    ``every`` None: once, after the last tick."""
    inputs = np.asarray(inputs, dtype=bool)
    if every is None or every >= ticks:
        return run_commands(image, inputs, ticks) + counter_commands(image.chip)
    if every < 1:
        raise SpikemeshError(f"counters are read every 1 or more ticks, not every {every}")
    cmds = []
    for t0 in range(0, ticks, every):
        t1 = min(ticks, t0 + every)
        cmds += run_commands(image, inputs[t0:t1], t1 - t0) + counter_commands(image.chip)
    return cmds


def decode_counters(chip, responses) -> dict | None:
    """The COUNTER responses of a run (:func:`counter_commands`, possibly several readings)
    as ``{name: int64 array}`` with a leading axis over the readings: ``[R, tiles]`` for the
    cores' counters, ``[R, tiles, 5]`` for ``forwarded`` and ``router_blocked``, ``[R]``
    for ``host_injected`` and ``cycles``, plus ``after_tick`` [R]: how many TICK_DONEs
    came before each reading. None when there is no COUNTER response.

    ``responses``: (op, a, b) rows in arrival order. Raises SpikemeshError when the
    readings are incomplete or their indices out of order (never a silent gap).
    """
    from spikemesh.counters import HW_TILE_COUNT, HW_TILE_REGISTERS

    rsp = np.asarray(responses, dtype=np.int64).reshape(-1, 3)
    is_c = rsp[:, 0] == Rsp.COUNTER
    if not is_c.any():
        return None
    n_reg = chip.tiles * HW_TILE_COUNT + 2
    idx, val = rsp[is_c, 1], rsp[is_c, 2]
    if idx.size % n_reg:
        raise SpikemeshError(
            f"{idx.size:,} COUNTER responses are not whole readings of the chip's "
            f"{n_reg:,} registers (spikemesh.firmware.loader.counter_commands)"
        )
    want = np.concatenate([np.tile(np.arange(HW_TILE_COUNT), chip.tiles), [16, 17]])
    r = idx.size // n_reg
    bad = np.flatnonzero(idx != np.tile(want, r))
    if bad.size:
        k = int(bad[0])
        raise SpikemeshError(
            f"COUNTER response {k} has index {int(idx[k])}, expected {int(want[k % n_reg])}: "
            "the readings are out of order"
        )
    ticks_before = np.cumsum(rsp[:, 0] == Rsp.TICK_DONE)[is_c][::n_reg]
    val = val.reshape(r, n_reg)
    tile = val[:, : chip.tiles * HW_TILE_COUNT].reshape(r, chip.tiles, HW_TILE_COUNT)
    out = {}
    for k, (name, port) in enumerate(HW_TILE_REGISTERS):
        if port is None:
            out[name] = tile[:, :, k].copy()
        elif port == 0:
            out[name] = tile[:, :, k : k + 5].copy()
    out["host_injected"] = val[:, -2].copy()
    out["cycles"] = val[:, -1].copy()
    out["after_tick"] = ticks_before.astype(np.int64)
    return out


def read_state_commands(image) -> list[dict]:
    """READ_STATE for every network neuron, in network order."""
    chip = image.chip
    n = chip.core.neurons
    cmds = []
    for slot in image.neuron_slot.tolist():
        t, i = divmod(slot, n)
        cmds.append(command(Cmd.READ_STATE, tile_x=t % chip.width, tile_y=t // chip.width, arg=i))
    return cmds


def pack_commands(image, cmds) -> list[int]:
    lay = command_layout(image.chip, config_data_bits(image.chip))
    return [lay.pack(**c) for c in cmds]


def unpack_responses(words) -> np.ndarray:
    """Response words (ints, up to 84 bits) → an (N, 3) int64 array of (op, a, b)."""
    lay = response_layout()
    fields = [(lay.offsets[k], (1 << lay[k].width) - 1) for k in ("op", "a", "b")]
    out = np.array(
        [tuple((int(w) >> off) & mask for off, mask in fields) for w in words], dtype=np.int64
    )
    return out.reshape(-1, 3)


def _signed24(x):
    x = np.asarray(x, dtype=np.int64) & ((1 << 24) - 1)
    return np.where(x >> 23, x - (1 << 24), x)


def decode_run(image, responses, ticks: int, inputs, *, state=None, backend="rtl") -> Result:
    """Build a Result from the responses of a run (and optional STATE responses, network order).

    ``responses`` is a sequence of (op, a, b) or an (N, 3) integer array, in arrival order.
    Raises SpikemeshError when a SPIKE names a slot no neuron is placed on, or
    a TICK_DONE is missing or out of order — never silently drops an event.
    """
    chip = image.chip
    n = chip.core.neurons
    src = host_source_layout(chip)
    rsp = np.asarray(responses, dtype=np.int64).reshape(-1, 3)
    op, a, b = rsp[:, 0], rsp[:, 1], rsp[:, 2]
    slot_to_neuron = np.full(chip.neurons, -1, dtype=np.int64)
    slot_to_neuron[image.neuron_slot] = np.arange(image.num_neurons)

    spk = op == Rsp.SPIKE
    sa, sb = a[spk], b[spk]
    field = {k: (sb >> src.offsets[k]) & ((1 << src[k].width) - 1) for k in ("x", "y", "neuron")}
    slot = (field["y"] * chip.width + field["x"]) * n + field["neuron"]
    inside = slot < slot_to_neuron.size
    nid = np.where(inside, slot_to_neuron[np.where(inside, slot, 0)], -1)
    if (nid < 0).any():
        k = int(np.argmax(nid < 0))
        raise SpikemeshError(
            f"a SPIKE came from core ({field['x'][k]},{field['y'][k]}) neuron "
            f"{field['neuron'][k]}, where no network neuron is placed"
        )
    if (sa >= ticks).any() or (sa < 0).any():
        bad = int(sa[(sa >= ticks) | (sa < 0)][0])
        raise SpikemeshError(f"a SPIKE is stamped tick {bad}, the run had {ticks} ticks")
    flat = sa * max(image.num_neurons, 1) + nid
    uniq, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        t, i = divmod(int(uniq[np.argmax(counts > 1)]), max(image.num_neurons, 1))
        raise SpikemeshError(f"neuron {i} reported twice in tick {t}")
    spikes = np.zeros((ticks, image.num_neurons), dtype=bool)
    spikes[sa, nid] = True

    done = op == Rsp.TICK_DONE
    ta, tb = a[done], b[done]
    wrong = ta != np.arange(ta.size)
    if wrong.any():
        k = int(np.argmax(wrong))
        raise SpikemeshError(f"TICK_DONE for tick {ta[k]}, expected tick {k}")
    if ta.size != ticks:
        raise SpikemeshError(f"the run ended after {ta.size} of {ticks} ticks")
    cycles = tb.copy()

    sb_state = b[op == Rsp.STATE]
    states = list(
        zip(_signed24(sb_state).tolist(), _signed24(sb_state >> 24).tolist(), strict=True)
    )
    rec = image.recorded
    if state is None:
        state = states
    if len(state) == image.num_neurons:
        fu = np.array([s[0] for s in state], dtype=np.int32)
        fv = np.array([s[1] for s in state], dtype=np.int32)
    else:
        fu = fv = np.zeros(0, dtype=np.int32)
    return Result(
        spikes=spikes,
        inputs=np.asarray(inputs, dtype=bool),
        recorded=rec,
        u=np.zeros((ticks, 0), dtype=np.int32),
        v=np.zeros((ticks, 0), dtype=np.int32),
        final_u=fu,
        final_v=fv,
        cycles=cycles,
        backend=backend,
        extra=_hw_extra(chip, rsp),
    )


def _hw_extra(chip, rsp) -> dict:
    hw = decode_counters(chip, rsp)
    return {} if hw is None else {"hw_counters": hw}
