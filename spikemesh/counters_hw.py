"""The hardware activity registers beside the walks of spikemesh/counters.py.

- :func:`idle_spikes`: the spikes of empty neuron slots, which the ``spikes`` register counts
  (every slot is updated) and no raster shows; both walks add them.
- :func:`check_hw_counters`: every reading of the registers over the host link
  (firmware.loader.decode_counters) against the per-tick counts summed up to it.
- :func:`hw_totals`: chip-wide totals of a reading, for the report.

docs/counters.md, "Reading them".
"""

from __future__ import annotations

import numpy as np

from .counters import PORTS, TIMING_DEPENDENT, TIMING_FREE, CounterError, Counters


def idle_spikes(image, ticks: int) -> np.ndarray:
    """int64 [ticks, tiles]: spikes of the neuron slots no neuron is placed in.

    The update loop updates every slot (``neuron_updates``), and the ``spikes`` register
    counts every update that spikes, whatever its fan-out; an empty slot keeps the image's
    initial state and profile (the compiler gives it profile 0), so a profile with a bias
    above threshold fires there tick after tick, with no fan-out and no raster entry. Its
    accumulator never gets input (no synapse targets it), so its spikes follow from the
    image alone: chip.md §3 with a = 0, from the image's u0, v0 and profile.
    """
    from .neuron import lif_update

    chip = image.chip
    n = chip.core.neurons
    placed = np.zeros(chip.tiles * n, dtype=bool)
    placed[np.asarray(image.neuron_slot, dtype=np.int64)] = True
    out = np.zeros((ticks, chip.tiles), dtype=np.int64)
    empty = np.flatnonzero(~placed)
    if empty.size == 0 or ticks == 0:
        return out
    tile, idx = empty // n, empty % n
    u = np.concatenate([np.asarray(c.u0, dtype=np.int64) for c in image.cores])[empty]
    v = np.concatenate([np.asarray(c.v0, dtype=np.int64) for c in image.cores])[empty]
    ref = np.zeros_like(u)
    prm = np.stack(
        [
            np.asarray(image.cores[t].profiles, dtype=np.int64)[image.cores[t].profile_idx[i]]
            for t, i in zip(tile.tolist(), idx.tolist(), strict=True)
        ]
    )
    a = np.zeros_like(u)
    for t in range(ticks):
        u, v, ref, spike = lif_update(u, v, ref, a, prm)
        out[t] = np.bincount(tile[spike], minlength=chip.tiles)
    return out


def check_hw_counters(counters: Counters, hw: dict, bits: int) -> None:
    """Every reading of the hardware registers (``Result.extra["hw_counters"]``,
    firmware.loader.decode_counters) equals the per-tick counts summed over the ticks before
    it, modulo 2**``bits``: the timing-free ones from the image or network walk, and
    ``cycles`` / ``router_blocked`` where ``counters`` has them. A difference is a bug in
    a model or the RTL: CounterError naming the counter, the reading and the tile/port."""
    mask = (1 << bits) - 1
    after = np.asarray(hw["after_tick"], dtype=np.int64)
    for name in (*TIMING_FREE, *TIMING_DEPENDENT):
        ours = getattr(counters, name)
        if ours is None:
            continue
        got = np.asarray(hw[name], dtype=np.int64)
        for r, t in enumerate(after.tolist()):
            if t > counters.ticks:
                raise CounterError(
                    f"hardware reading {r} follows tick {t}, the run has {counters.ticks}"
                )
            want = ours[:t].sum(axis=0) & mask
            bad = np.argwhere(np.atleast_1d(got[r] != want))
            if bad.size:
                where = ""
                if got[r].ndim:
                    tile = int(bad[0][0])
                    where = f" at tile ({tile % counters.chip.width},{tile // counters.chip.width})"
                    if got[r].ndim > 1:
                        where += f", port {PORTS[int(bad[0][1])]}"
                first = tuple(int(i) for i in bad[0]) if got[r].ndim else ()
                raise CounterError(
                    f"hardware counter {name}{where}, read after tick {t} (reading {r}): the "
                    f"register holds {int(got[r][first])}, the per-tick counts sum to "
                    f"{int(want[first])} ({counters.source} walk): a model or the RTL "
                    "counts wrongly"
                )


def hw_totals(hw: dict, reading: int = -1) -> dict:
    """Chip-wide totals of one reading of the hardware registers (ints)."""
    return {
        name: int(np.asarray(hw[name][reading]).sum())
        for name in (*TIMING_FREE, *TIMING_DEPENDENT)
        if name in hw
    }
