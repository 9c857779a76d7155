"""The long fuzz campaign: every target of tests/fuzz/ on >= 100,000 inputs (docs/testing.md).

    .venv/bin/python bench/run_fuzz.py                       # every target, 100,000 inputs each
    .venv/bin/python bench/run_fuzz.py -t network-yaml -n 20000 --seed 7
    nice -n 10 .venv/bin/python bench/run_fuzz.py --list

Inputs run in chunks of ``--chunk`` hypothesis examples, chunk k with seed ``seed + k``, so a
failure stops one chunk (hypothesis shrinks it and the minimal input is printed and kept in
the results) and the campaign goes on. One target runs at a time in this process. The counts
(inputs, clean refusals, failures, hangs, wall time) are merged into ``--out``
(bench/fuzz_results.json) per target.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.harness import Hang  # noqa: E402
from tests.fuzz.targets import BY_NAME, TARGETS  # noqa: E402


def run_target(
    target, inputs: int, seed: int, chunk: int, max_seconds: float, shrink: bool
) -> dict:
    failures, hangs = [], 0
    t0 = time.perf_counter()
    k = 0
    while target.counts["inputs"] < inputs and time.perf_counter() - t0 < max_seconds:
        before = target.counts["inputs"]
        n = min(chunk, inputs - before)
        try:
            target.run(n, seed=seed + k, shrink=shrink)
        except BaseException as e:  # a failing input: hypothesis has shrunk it
            if isinstance(e, KeyboardInterrupt):
                raise
            subs = getattr(e, "exceptions", None) or [e]  # hypothesis groups distinct bugs
            text = "\n".join("".join(traceback.format_exception(x)).strip()[-1500:] for x in subs)
            notes = "\n".join(n for x in subs for n in getattr(x, "__notes__", []))
            failures.append({"chunk_seed": seed + k, "error": text[-2000:], "input": notes})
            hangs += isinstance(e, Hang) or "Hang" in text
            print(f"  {target.name}: FAILURE (seed {seed + k}):\n{text}\n{notes}", flush=True)
        if target.counts["inputs"] == before:  # hypothesis ran out of distinct inputs
            break
        k += 1
        print(
            f"  {target.name}: {target.counts['inputs']:,} inputs, "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    return {
        "inputs": target.counts["inputs"],
        "refused": target.counts["refused"],
        "failures": len(failures),
        "hangs": hangs,
        "wall_s": round(time.perf_counter() - t0, 1),
        "stopped_by_time": target.counts["inputs"] < inputs,
        "seed": seed,
        "chunk": chunk,
        "details": failures,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-t", "--target", action="append", choices=sorted(BY_NAME), default=None)
    ap.add_argument("-n", "--inputs", type=int, default=100_000, help="inputs per target")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--chunk", type=int, default=5000, help="hypothesis examples per run")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=float("inf"),
        help="stop a target after this much wall time (checked between chunks)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "fuzz_results.json")
    ap.add_argument(
        "--shrink",
        action="store_true",
        help="let hypothesis shrink a failing input (up to minutes); by default the input is "
        "printed as found and the campaign goes on",
    )
    ap.add_argument("--list", action="store_true", help="list the targets and exit")
    args = ap.parse_args(argv)
    if args.list:
        for t in TARGETS:
            print(f"{t.name:24} CI {t.ci_examples} examples, hang limit {t.timeout} s")
        return 0
    if args.inputs < 1 or args.chunk < 1:
        ap.error("--inputs and --chunk must be at least 1")
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    bad = 0
    for name in args.target or [t.name for t in TARGETS]:
        target = BY_NAME[name]
        print(f"{name}: {args.inputs:,} inputs", flush=True)
        res = run_target(target, args.inputs, args.seed, args.chunk, args.max_seconds, args.shrink)
        results[name] = res
        bad += res["failures"]
        print(
            f"{name}: {res['inputs']:,} inputs, {res['refused']:,} refused cleanly, "
            f"{res['failures']} failures ({res['hangs']} hangs), {res['wall_s']} s",
            flush=True,
        )
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
