"""Load and run an image on the RTL chip under cocotb, through the host-link streams.

Host side: :func:`run_rtl` converts :class:`spikemesh.rtl.chip.Chip` to
Verilog, builds it (Verilator by default, cached per design), and runs the
cocotb test below on a case file of command words; it returns each case's
responses with the cycle each was taken in.

cocotb side: :class:`ChipTB` drives the command words into ``i_cmd`` in bulk
— the host always offers its next command and is always ready for a
response, the convention under which the timed TLM's cycles are defined —
and records ``o_rsp``. When a case carries the timed TLM's expected
responses, every word must arrive on exactly the expected cycle.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from spikemesh.errors import SpikemeshError

CACHE = Path(os.environ.get("SPIKEMESH_CACHE", Path.home() / ".cache" / "spikemesh")) / "rtl"


def run_rtl(chip, cases, *, simulator="verilator", build_dir=None):
    """Run command-word cases on the RTL chip.

    Parameters
    ----------
    chip : ChipConfig
    cases : list of dict
        ``{"seed": label, "words": [int, ...], "expected": [(cycle, word), ...] or None}``.
    build_dir : path, optional
        Default: a cache folder keyed by the chip config, so a second run
        with the same chip skips the build.

    Returns
    -------
    list (one per case) of [(cycle, response word), ...]

    Raises
    ------
    spikemesh.hdlsim.HdlSimError
        Simulator missing, build failure, or a response that differs from ``expected``.
    """
    from spikemesh.rtl.chip import Chip

    from spikemesh.hdlsim import HdlSimError, build_and_test

    key = hashlib.sha256(json.dumps(chip.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    build_dir = Path(build_dir) if build_dir else CACHE / f"chip-{key}-{simulator}"
    build_dir.mkdir(parents=True, exist_ok=True)
    case_file = build_dir / "cases.json"
    out_file = build_dir / "responses.json"
    serial = [
        {
            "seed": c.get("seed", k),
            "words": [str(w) for w in c["words"]],
            "expected": (
                None
                if c.get("expected") is None
                else [[int(cy), str(w)] for cy, w in c["expected"]]
            ),
        }
        for k, c in enumerate(cases)
    ]
    case_file.write_text(json.dumps({"cases": serial}))
    if out_file.exists():
        out_file.unlink()
    n_tests, n_failed = build_and_test(
        Chip(chip),
        toplevel="chip",
        test_module="spikemesh.firmware.rtl_loader",
        build_dir=build_dir,
        simulator=simulator,
        env={"CHIP_CASES": str(case_file), "CHIP_OUT": str(out_file)},
        sim_log=build_dir / "sim.log",
    )
    if n_tests == 0 or n_failed or not out_file.exists():
        detail = (
            (build_dir / "mismatch.txt").read_text()
            if (build_dir / "mismatch.txt").exists()
            else f"see the log under {build_dir}"
        )
        raise HdlSimError(f"the RTL run failed: {detail}")
    return [[(c, int(w)) for c, w in case] for case in json.loads(out_file.read_text())]


# --- cocotb side ------------------------------------------------------------------------

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - cocotb is a dev dependency
    cocotb = None


class ChipTB:
    """Clock, reset, a bulk command driver and a response monitor on the chip's host streams."""

    def __init__(self, dut):
        self.dut = dut
        Clock(dut.clk, 10, unit="ns").start(start_high=False)

    async def reset(self):
        d = self.dut
        d.rst.value = 1
        d.i_cmd__valid.value = 0
        d.o_rsp__ready.value = 1
        for _ in range(3):
            await RisingEdge(d.clk)
        d.rst.value = 0

    async def run(self, words, *, expected_count=None, max_cycles=10_000_000):
        """Drive ``words``; return [(cycle, response word)].

        Cycle 0 is the first cycle the first command is offered. Stops once all
        commands are taken, ``expected_count`` responses (if given) have come
        and the chip has been quiet for 64 cycles, or after ``max_cycles``.
        """
        d = self.dut
        pos, cycle, got, quiet = 0, 0, [], 0
        d.i_cmd__valid.value = 1 if words else 0
        if words:
            d.i_cmd__payload.value = words[0]
        while cycle <= max_cycles:
            await ReadOnly()
            took = pos < len(words) and int(d.i_cmd__ready.value)
            rsp = int(d.o_rsp__valid.value)
            if rsp:
                got.append((cycle, int(d.o_rsp__payload.value)))
            running = int(d.running.value)
            await RisingEdge(d.clk)
            cycle += 1
            if took:
                pos += 1
                if pos < len(words):
                    d.i_cmd__payload.value = words[pos]
                else:
                    d.i_cmd__valid.value = 0
            done = pos == len(words) and (expected_count is None or len(got) >= expected_count)
            quiet = quiet + 1 if done and not rsp and not running else 0
            if quiet > 64:
                break
        return got


if cocotb is not None:

    @cocotb.test()
    async def test_cases(dut):
        spec = json.loads(Path(os.environ["CHIP_CASES"]).read_text())
        out = Path(os.environ["CHIP_OUT"])
        tb = ChipTB(dut)
        observed = []
        for case in spec["cases"]:
            await tb.reset()
            words = [int(w) for w in case["words"]]
            expected = case.get("expected")
            if expected is not None:
                expected = [(c, int(w)) for c, w in expected]
            got = await tb.run(
                words,
                expected_count=None if expected is None else len(expected),
                max_cycles=(expected[-1][0] + 10_000) if expected else 50_000_000,
            )
            observed.append([[c, str(w)] for c, w in got])
            if expected is not None and got != expected:
                first = next(
                    (k for k, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                    min(len(got), len(expected)),
                )
                msg = (
                    f"case {case['seed']}: RTL response {first} is "
                    f"{got[first] if first < len(got) else 'missing'}, the timed TLM's is "
                    f"{expected[first] if first < len(expected) else 'none'} "
                    f"({len(got)} vs {len(expected)} responses)"
                )
                (out.parent / "mismatch.txt").write_text(msg)
                raise AssertionError(msg)
            dut._log.info(f"case {case['seed']}: {len(got)} responses")
        out.write_text(json.dumps(observed))


def run_image_rtl(image, inputs, ticks, *, simulator="verilator", expected=None):
    """Load ``image``, run ``ticks`` ticks with ``inputs`` and read back every neuron's state.

    Returns (Result, responses with cycles).
    """
    from .loader import (
        config_commands,
        decode_run,
        pack_commands,
        read_state_commands,
        run_commands,
        unpack_responses,
    )

    cmds = config_commands(image) + run_commands(image, inputs, ticks) + read_state_commands(image)
    (got,) = run_rtl(
        image.chip,
        [{"seed": image.network_name, "words": pack_commands(image, cmds), "expected": expected}],
        simulator=simulator,
    )
    try:
        res = decode_run(image, unpack_responses([w for _, w in got]), ticks, inputs, backend="rtl")
    except SpikemeshError as e:
        raise SpikemeshError(f"the RTL's responses do not decode: {e}") from None
    return res, got
