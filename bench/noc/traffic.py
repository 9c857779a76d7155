"""Synthetic traffic patterns and injection schedules (BookSim's vocabulary).

Sources are the W x H tiles; each injects a new flit in a cycle with
probability ``rate`` (Bernoulli process, flits/node/cycle) into an unbounded
source queue. Latency counts from creation to ejection, source queueing
included, as BookSim does.
"""

from __future__ import annotations

import random

from spikemesh.config import ChipConfig, flit_layout

PATTERNS = ("uniform", "transpose", "bitcomp", "hotspot")
HOTSPOT_FRACTION = 0.1  # share of traffic sent to the hotspot node (the centre tile)


def destination(pattern: str, chip: ChipConfig, x: int, y: int, rng: random.Random):
    w, h = chip.width, chip.height
    if pattern == "uniform":
        return rng.randrange(w), rng.randrange(h)
    if pattern == "transpose":
        return y % w, x % h
    if pattern == "bitcomp":
        return w - 1 - x, h - 1 - y
    if pattern == "hotspot":
        if rng.random() < HOTSPOT_FRACTION:
            return w // 2, h // 2
        return rng.randrange(w), rng.randrange(h)
    raise ValueError(f"Traffic pattern must be one of {', '.join(PATTERNS)}, not {pattern!r}")


def schedule(chip: ChipConfig, pattern: str, rate: float, cycles: int, seed: int):
    """[(cycle, source endpoint, flit word)] sorted by cycle, plus [hops] per flit."""
    rng = random.Random(seed)
    lay = flit_layout(chip)
    w = chip.width
    sched, hops = [], []
    words = {}
    for t in range(cycles):
        for k in range(chip.tiles):
            if rng.random() < rate:
                x, y = k % w, k // w
                dx, dy = destination(pattern, chip, x, y, rng)
                word = words.get((dx, dy))
                if word is None:
                    word = words[(dx, dy)] = lay.pack(kind=0, dest_x=dx, dest_y=dy, payload=0)
                sched.append((t, k, word))
                hops.append(abs(dx - x) + abs(dy - y))
    return sched, hops
