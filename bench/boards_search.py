"""The largest chip per board, by measurement (issue 17): ``bench/boards.py --search``.

For each board a few *directions* (more tiles, larger cores on fewer tiles, deeper synapse
memories, ...), each an ordered list of chip shapes growing from the board's default.
The search builds a direction's shapes one after another and stops that direction at the
first one that does not pass: does not fit, does not route (the flow failed), or misses the
clock (Fmax below ``required_mhz``: the board clock; the issue's target clock is
reported beside each board's largest shape, not required). Every tried shape becomes a
row of bench/boards_results.json (``search``); the largest passing shape per board (most
neurons, then most synapses) is what docs/boards.md reports against the issue's targets,
with what stopped each direction.

A candidate is a :class:`~spikemesh.config.ChipConfig`; new core variants (a CoreConfig
option, e.g. a memory mapping for SPRAM) become candidates by adding shapes built with
them to :data:`DIRECTIONS`.
"""

from __future__ import annotations

from spikemesh.rtl.boards import BOARDS

from spikemesh.config import ChipConfig, CoreConfig

# The issue's targets per board: neurons, synapses (None: no target), clock in MHz.
TARGETS = {
    "icebreaker": {"neurons": 256, "synapses": None, "mhz": 12.0},
    "ulx3s-25f": {"neurons": 1024, "synapses": 16384, "mhz": 25.0},
    "ulx3s-85f": {"neurons": 4096, "synapses": 65536, "mhz": 50.0},
}


def shape(w, h, n, a, s, f, **extra) -> ChipConfig:
    """A chip of ``w x h`` tiles of cores with ``n`` neurons, ``a`` axons, ``s`` synapses and
    ``f`` fan-out entries; ``extra``: ``host_fifo_depth``, ``profiles``."""
    chip_kw = {k: extra.pop(k) for k in ("host_fifo_depth",) if k in extra}
    core = CoreConfig(neurons=n, axons=a, synapses=s, fanout=f, **extra)
    return ChipConfig(width=w, height=h, core=core, **chip_kw)


def name_of(chip: ChipConfig) -> str:
    """``"1x1 n1024 a1024 s32768 f1024"`` (+ ``p2``, ``fifo2`` where not the default)."""
    c, d = chip.core, CoreConfig()
    name = f"{chip.width}x{chip.height} n{c.neurons} a{c.axons} s{c.synapses} f{c.fanout}"
    if c.profiles != d.profiles:
        name += f" p{c.profiles}"
    if chip.host_fifo_depth != ChipConfig().host_fifo_depth:
        name += f" fifo{chip.host_fifo_depth}"
    return name


def totals(chip: ChipConfig) -> dict:
    """Neurons and synapses of the whole chip."""
    tiles = chip.width * chip.height
    return {"neurons": tiles * chip.core.neurons, "synapses": tiles * chip.core.synapses}


def _ice(w, h, n, a, s, f):
    return shape(w, h, n, a, s, f, profiles=2, host_fifo_depth=2)


# Board -> direction -> shapes, smallest first (each larger than the board's default in
# neurons or synapses). The default is tried first, once per board, as the baseline.
DIRECTIONS = {
    "icebreaker": {
        # (from the 16-neuron default before this search; the default is now 1x1 n64)
        # the 16-neuron core with deeper synapse memories (EBR)
        "synapses": [_ice(1, 1, 16, 64, s, 64) for s in (512, 1024, 2048)],
        # more tiles of the default core (each tile adds a core and a router)
        "tiles": [_ice(2, 1, 16, 64, 256, 64), _ice(2, 2, 16, 64, 256, 64)],
        # a larger core: logic cells grow with the neuron count's address widths
        "neurons": [
            _ice(1, 1, 32, 128, 512, 128),
            _ice(1, 1, 64, 256, 1024, 256),
            _ice(1, 1, 128, 512, 2048, 512),
            # the issue's 256 neurons with the 128-neuron core's tables (the neuron
            # count is the target; block RAM runs out before logic does)
            _ice(1, 1, 256, 512, 2048, 512),
            _ice(1, 1, 512, 512, 2048, 512),
        ],
    },
    "ulx3s-25f": {
        # the default is already one large core (1x1 n1024 s32768, found by this search
        # from the 2x2 n64 chip): twice its synapses, or a second core
        "cores": [shape(1, 1, 1024, 2048, 65536, 2048)],
        "two cores": [shape(2, 1, 1024, 1024, 16384, 1024), shape(2, 1, 1024, 1024, 32768, 1024)],
        "tiles": [shape(2, 2, 512, 1024, 8192, 1024)],
    },
    "ulx3s-85f": {
        # The default is six of the 25F's 1,024-neuron cores with 16k synapses each (found
        # by this search: 6,144 neurons, 98k synapses, 157 of 208 DP16KD, 52.9 MHz).
        # Fewer cores with the same or deeper synapse memories (the search's first steps):
        "fewer cores": [
            shape(2, 2, 1024, 1024, 16384, 1024),
            shape(2, 2, 1024, 1024, 32768, 1024),
        ],
        # more of the default's cores (~26 DP16KD each)
        "tiles": [shape(3, 3, 1024, 1024, 16384, 1024)],
        # deeper synapse memories on the default's six cores
        "synapses": [shape(3, 2, 1024, 1024, 32768, 1024)],
        # many small cores (the 85F's default before the search: 4 x 4 of 64 neurons did
        # not route, router1 and router2 alike, so neither would anything larger of this kind)
        "small-core tiles": [
            shape(4, 4, 64, 256, 1024, 1024),
            shape(5, 5, 64, 256, 1024, 1024),
            shape(6, 6, 64, 256, 1024, 1024),
        ],
        "non-square": [shape(4, 6, 64, 256, 1024, 1024), shape(4, 8, 64, 256, 1024, 1024)],
    },
}


def candidates(board: str, directions=None) -> list[tuple[str, ChipConfig]]:
    """``(direction, chip)`` in search order: the default first (from the table's row when
    it has one), then each direction (``directions``: only these)."""
    if directions:
        unknown = sorted(set(directions) - set(DIRECTIONS[board]))
        if unknown:
            raise SystemExit(
                f"{board} has no direction {', '.join(unknown)}; its directions are "
                + ", ".join(DIRECTIONS[board])
            )
    out = [("default", BOARDS[board].chip)]
    for direction, chips in DIRECTIONS[board].items():
        if not directions or direction in directions:
            out += [(direction, c) for c in chips]
    return out


def required_mhz(board: str, clk_mhz: float) -> float:
    """The clock a shape must meet to pass: the board's (the bitstream runs at it). The
    issue's target clock is reported beside each board's largest shape (``vs target`` in
    docs/boards.md), not required: on the 85F no shape with the target's neurons reached
    50 MHz, and the largest chip that runs on the board is what its default should be."""
    return clk_mhz


def passed(row: dict, board: str) -> bool:
    """A search row passes when it fits, routes, has every path checked and meets
    :func:`required_mhz`."""
    if row.get("status") not in ("ok", "timing not met"):
        return False
    fmax, clk = row.get("fmax_mhz"), row.get("clk_mhz")
    return fmax is not None and clk is not None and fmax >= required_mhz(board, clk)


def why_failed(row: dict, board: str) -> str:
    """What stopped a row, in a few words (the resource over 100 %, the Fmax, the flow)."""
    status = row.get("status", "?")
    if status == "does not fit":
        over = [f"{k} {u}/{a}" for k, (u, a) in row.get("utilisation", {}).items() if a and u > a]
        return "does not fit: " + (", ".join(over) if over else "no placement")
    if status in ("ok", "timing not met") and row.get("fmax_mhz") is not None:
        need = required_mhz(board, row["clk_mhz"])
        return f"Fmax {row['fmax_mhz']:.1f} MHz < {need:g} MHz"
    if status == "not built":
        return "not built yet"
    first = (row.get("error") or "").strip().splitlines()
    return status + (f": {first[0][:120]}" if first else "")


def search(
    board: str, build_row, *, dry_run=False, log=print, on_row=None, directions=None
) -> list[dict]:
    """Walk :func:`candidates` for ``board``; ``build_row(board, name, chip)`` -> row;
    ``on_row(rows)`` after each row (to save them).

    The default is built first (taken from the table's row when it has one); if it does
    not pass, nothing larger is tried. Each
    direction then stops at its first shape that does not pass. Returns the rows tried
    (in ``dry_run``: the candidates, not built).
    """
    rows = []
    stopped = set()
    for direction, chip in candidates(board, directions):
        name = name_of(chip)
        if dry_run:
            t = totals(chip)
            log(f"{board:11s} {direction:16s} {name:36s} {t['neurons']:6,} n {t['synapses']:8,} s")
            continue
        if direction in stopped or ("default" in stopped and direction != "default"):
            continue
        log(f"building {board} / {direction} / {name} ...")
        row = build_row(board, name, chip)
        row.update(direction=direction, **totals(chip), passed=passed(row, board))
        if not row["passed"]:
            row["stopped_by"] = why_failed(row, board)
            stopped.add(direction)
        log(f"  {row['status']} ({'pass' if row['passed'] else row['stopped_by']})")
        rows.append(row)
        if on_row is not None:
            on_row(rows)
    return rows


def largest(rows: list[dict]) -> dict | None:
    """The passing row with the most neurons, then synapses."""
    ok = [r for r in rows if r.get("passed")]
    return max(ok, key=lambda r: (r["neurons"], r["synapses"]), default=None)
