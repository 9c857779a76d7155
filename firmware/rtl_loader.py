"""Load and run an image on the RTL chip, through the host-link streams.

Host side: :func:`run_rtl` runs cases of host command words on the chip's
Verilog and returns each case's responses with the cycle each was taken in;
:func:`run_image_rtl` turns an image, inputs and ticks into such a case and
the responses back into a Result. Two runners (docs/testing.md):

- ``runner="verilator"`` (default): spikemesh.firmware.rtl_runner, the
  Verilated chip driven by a compiled C++ harness, no Python per cycle;
- ``runner="cocotb"``: the cocotb test below, on Verilator or Icarus.

Loading: ``load="hostlink"`` sends the image as CONFIG_WRITE commands;
``load="direct"`` places the same words in the cores' memories after reset,
before cycle 0 (spikemesh.firmware.rtl_memories), so no cycle is spent on it.

cocotb side: :class:`ChipTB` drives the command words into ``i_cmd`` in bulk
— the host offers its next command and takes responses as the case's
ready/valid schedule says (firmware.loader.host_schedule), by default in
every cycle, the convention under which the timed TLM's cycles are defined —
and records ``o_rsp``; the C++ harness follows the same rules. When a case
carries the timed TLM's expected responses, every word must arrive on exactly
the expected cycle (:func:`mismatch` names the first that does not).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

from spikemesh.errors import SpikemeshError

RUNNERS = ("verilator", "cocotb")
LOADS = ("direct", "hostlink")


def check_waves(waves, waves_ticks, *, runner="verilator", simulator="verilator"):
    """Raise HdlSimError for a waves request the runner cannot honour, before any build."""
    from spikemesh.hdlsim import HdlSimError

    if waves_ticks is not None:
        if waves is None:
            raise HdlSimError("waves_ticks needs waves=FILE (.fst or .vcd)")
        try:
            a, b = (int(t) for t in waves_ticks)
        except (TypeError, ValueError):
            raise HdlSimError(
                f"waves_ticks must be a pair (A, B) of ticks, not {waves_ticks!r}"
            ) from None
        if not 0 <= a <= b:
            raise HdlSimError(f"waves_ticks must satisfy 0 <= A <= B, not ({a}, {b})")
    if waves is None or runner == "verilator":
        return
    vcd = str(waves).lower().endswith(".vcd")
    if simulator == "icarus" and vcd:
        raise HdlSimError("Icarus under cocotb writes FST: name the waves file .fst")
    if waves_ticks is not None and not vcd:
        raise HdlSimError(
            "waves_ticks under the cocotb runner cuts a VCD file: name it .vcd, or use "
            "runner='verilator' (FST or VCD)"
        )


def mismatch(label, got, expected) -> str | None:
    """The first response that differs from ``expected``, with both values (None if equal)."""
    if got == expected:
        return None
    first = next(
        (k for k, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
        min(len(got), len(expected)),
    )
    return (
        f"case {label}: RTL response {first} is "
        f"{got[first] if first < len(got) else 'missing'}, the timed TLM's is "
        f"{expected[first] if first < len(expected) else 'none'} "
        f"({len(got)} vs {len(expected)} responses)"
    )


def run_rtl(
    chip,
    cases,
    *,
    runner=None,
    simulator="verilator",
    build_dir=None,
    waves=None,
    waves_ticks=None,
):
    """Run command-word cases on the RTL chip.

    Parameters
    ----------
    chip : ChipConfig
    cases : list of dict
        ``{"seed": label, "words": [int, ...], "expected": [(cycle, word), ...] or None,
        "image": ChipImage (optional), "schedule": (valid, ready) (optional)}``. With
        ``image`` the image is placed in the cores' memories after reset, before cycle 0
        (direct load); ``words`` then start with RUN instead of the CONFIG_WRITE stream.
        ``schedule``: the host's ready/valid schedule (firmware.loader.host_schedule);
        without one the host offers a command and takes a response in every cycle.
    runner : "verilator", "cocotb" or None
        ``verilator``: the compiled C++ harness (spikemesh.firmware.rtl_runner), no
        Python per cycle. ``cocotb``: the cocotb test below, on ``simulator``.
        None: ``cocotb`` for ``simulator="icarus"``, else ``verilator``.
    build_dir : path, optional
        verilator: the cache root (default ``rtl_runner.cache_root()``); cocotb: the
        build folder (default: a cache folder keyed by the chip config).
    waves, waves_ticks : path, (A, B), optional
        Waveforms of the run, only ticks A..B if given (docs/waves.md).

    Returns
    -------
    list (one per case) of [(cycle, response word), ...]

    Raises
    ------
    spikemesh.hdlsim.HdlSimError
        Simulator missing, build failure, a bad option, or a response that differs
        from ``expected`` (the first one, with both values).
    """
    from spikemesh.hdlsim import HdlSimError

    if runner is None:
        runner = "cocotb" if simulator == "icarus" else "verilator"
    if runner not in RUNNERS:
        raise HdlSimError(f"runner must be one of {', '.join(RUNNERS)}, not {runner!r}")
    if runner == "verilator" and simulator != "verilator":
        raise HdlSimError(f"simulator={simulator!r} runs under cocotb: use runner='cocotb'")
    check_waves(waves, waves_ticks, runner=runner, simulator=simulator)
    if runner == "cocotb":
        return _run_cocotb(chip, cases, simulator, build_dir, waves, waves_ticks)
    from .rtl_runner import image_memory_writes, run_cases

    prepared = []
    for c in cases:
        image = c.get("image")
        if image is not None and image.chip != chip:
            raise HdlSimError("a case's image was compiled for another chip configuration")
        prepared.append(
            {
                "words": [int(w) for w in c["words"]],
                "expected": c.get("expected"),
                "memory": None if image is None else image_memory_writes(image),
                "schedule": c.get("schedule"),
            }
        )
    observed = run_cases(chip, prepared, waves=waves, waves_ticks=waves_ticks, cache=build_dir)
    for k, (c, got) in enumerate(zip(cases, observed, strict=True)):
        if c.get("expected") is not None:
            expected = [(int(cy), int(w)) for cy, w in c["expected"]]
            msg = mismatch(c.get("seed", k), got, expected)
            if msg:
                raise HdlSimError(f"the RTL run failed: {msg}")
    return observed


def _run_cocotb(chip, cases, simulator, build_dir, waves, waves_ticks):
    # The build's makefiles name this environment's cocotb by absolute path, so the key holds
    # the environment too: another clone's (or venv's) build is never reused.
    import cocotb

    from spikemesh.hdlsim import HdlSimError, build_and_test

    from .rtl_runner import KEEP_COCOTB_BUILDS, _prune, cache_root, chip_verilog

    key = hashlib.sha256(
        json.dumps([chip.to_dict(), sys.prefix, cocotb.__version__], sort_keys=True).encode()
    ).hexdigest()[:16]
    traced = "-waves" if waves is not None else ""
    build_dir = Path(build_dir) if build_dir else cache_root() / f"chip-{key}-{simulator}{traced}"
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
            "memory": None if c.get("image") is None else cocotb_memory_writes(c["image"]),
            "schedule": _schedule_bits(c.get("schedule")),
        }
        for k, c in enumerate(cases)
    ]
    window = None if waves_ticks is None else [int(t) for t in waves_ticks]
    case_file.write_text(json.dumps({"cases": serial, "waves_ticks": window}))  # = last use
    if build_dir.parent == cache_root():
        _prune(cache_root(), keep=build_dir, pattern="chip-*", stamp=case_file.name,
               n=KEEP_COCOTB_BUILDS)  # fmt: skip
    for stale in (out_file, build_dir / "mismatch.txt"):
        if stale.exists():
            stale.unlink()
    fst = waves is not None and not str(waves).lower().endswith(".vcd")
    # The Verilog from rtl_runner's cache (converting the chip takes seconds), rewritten only
    # when it changed so that the simulator's build stays incremental.
    vpath = build_dir / "chip.v"
    text = chip_verilog(chip)
    if not vpath.exists() or vpath.read_text() != text:
        vpath.write_text(text)
    n_tests, n_failed = build_and_test(
        vpath,
        toplevel="chip",
        test_module="spikemesh.firmware.rtl_loader",
        build_dir=build_dir,
        simulator=simulator,
        env={"CHIP_CASES": str(case_file), "CHIP_OUT": str(out_file)},
        sim_log=build_dir / "sim.log",
        waves=waves is not None,
        extra_build_args=["--trace-fst"] if fst and simulator == "verilator" else [],
    )
    fired = assertion_reports((build_dir / "sim.log").read_text(errors="replace"))
    if fired:
        raise HdlSimError(f"an RTL assertion fired: {fired[0]} (log: {build_dir / 'sim.log'})")
    if n_tests == 0 or n_failed or not out_file.exists():
        detail = (
            (build_dir / "mismatch.txt").read_text()
            if (build_dir / "mismatch.txt").exists()
            else f"see the log under {build_dir}"
        )
        raise HdlSimError(f"the RTL run failed: {detail}")
    out = json.loads(out_file.read_text())
    observed = [[(c, int(w)) for c, w in case] for case in out["responses"]]
    if waves is not None:
        if simulator == "icarus":
            dump = build_dir / "chip.fst"
        else:
            dump = build_dir / ("dump.fst" if fst else "dump.vcd")
        windows = [w for w in out["windows"] if w is not None]
        if waves_ticks is not None and not windows:
            raise HdlSimError(f"ticks {waves_ticks[0]}..{waves_ticks[1]} never ran: no waves")
        window = None if waves_ticks is None else (windows[0][0], windows[0][1])
        _place_waves(dump, Path(waves), window)
    return observed


# An RTL assertion (rtl/contracts.py) as each simulator reports it, with the Amaranth
# message before it on the line: Verilator stops, Icarus prints it and runs on.
_ASSERTION = re.compile(
    r"^(.*?)(?:ERROR: (\S+\.v:\d+): *$|(?:\[\d+\] )?%Error: (\S+\.v:\d+): Assertion failed)",
    re.M,
)


def _schedule_bits(schedule):
    """A host schedule as two strings of 0 and 1 (valid, ready) for the cocotb test, or None."""
    if schedule is None:
        return None
    from .loader import check_schedule

    return ["".join("01"[int(b)] for b in bits) for bits in check_schedule(schedule)]


def assertion_reports(log: str) -> list[str]:
    """The RTL assertion failures in a simulator's output, "message (file:line)" each."""
    return [f"{m.strip() or 'assertion'} ({a or b})" for m, a, b in _ASSERTION.findall(log)]


def _place_waves(dump: Path, dest: Path, window) -> None:
    """Move the cocotb run's dump to ``dest``, cut to the tick window's times when given."""
    from spikemesh.hdlsim import HdlSimError, window_vcd

    if not dump.exists():
        raise HdlSimError(f"the simulator wrote no waveform file ({dump})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if window is None:
        shutil.move(dump, dest)
        return
    window_vcd(dump, dest, window[0], window[1])
    dump.unlink()


def cocotb_memory_writes(image) -> list:
    """The direct load for the cocotb side: [[x, y, name, index or None, word], ...].

    ``index`` None: ``name`` is a register (a profile's decay factor), not a memory.
    """
    from .rtl_runner import (
        MEMORIES,
        PROFILE_REGS,
        chip_verilog,
        image_memory_writes,
        profile_registers,
    )

    chip = image.chip
    regs = profile_registers(chip, chip_verilog(chip))
    ids, idx, words = image_memory_writes(image)
    n_mem = chip.tiles * len(MEMORIES)
    out = []
    for i, k, d in zip(ids.tolist(), idx.tolist(), words.tolist(), strict=True):
        if i < n_mem:
            tile, slot = divmod(i, len(MEMORIES))
            name, index = MEMORIES[slot][0], k
        else:
            tile, r = divmod(i - n_mem, len(PROFILE_REGS))
            name, index = regs[tile][r][k], None
        out.append([tile % chip.width, tile // chip.width, name, index, d])
    return out


# --- cocotb side ------------------------------------------------------------------------

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ReadOnly, RisingEdge
    from cocotb.utils import get_sim_time
except ImportError:  # pragma: no cover - cocotb is a dev dependency
    cocotb = None


class ChipTB:
    """Clock, reset, a bulk command driver and a response monitor on the chip's host streams."""

    def __init__(self, dut):
        self.dut = dut
        Clock(dut.clk, 10, unit="ns").start(start_high=False)

    async def reset(self, memory=None):
        """Three cycles of reset; ``memory`` ([x, y, name, index, word] rows) is written
        into the cores' memories meanwhile (the direct load)."""
        d = self.dut
        d.rst.value = 1
        d.i_cmd__valid.value = 0
        d.o_rsp__ready.value = 1
        await RisingEdge(d.clk)
        if memory:
            cores = {}
            for x, y, name, index, word in memory:
                core = cores.get((x, y))
                if core is None:
                    core = cores[(x, y)] = getattr(d, f"core_{x}_{y}")
                handle = getattr(core, name)
                (handle if index is None else handle[index]).value = word
        for _ in range(2):
            await RisingEdge(d.clk)
        d.rst.value = 0

    async def run(
        self, words, *, expected_count=None, max_cycles=10_000_000, window=None, schedule=None
    ):
        """Drive ``words``; return [(cycle, response word)].

        Cycle 0 is the first cycle after reset. ``schedule`` = (valid, ready) bit strings:
        in cycle c the host raises ``i_cmd.valid`` if ``valid[c % len]`` is 1 and holds it
        until the transfer; ``o_rsp.ready`` is ``ready[c % len]`` (None: always 1). Stops
        once all commands are taken, ``expected_count`` responses (if given) have come
        and the chip has been quiet for 64 cycles, or after ``max_cycles``.
        ``window``: ticks (A, B); ``self.window_ns`` gets the simulation times (ns)
        from the first cycle tick A runs to the last cycle the tick counter reads B.
        """
        d = self.dut
        may_offer, ready = schedule if schedule is not None else ("1", "1")
        period = len(may_offer)
        pos, cycle, got, quiet, offered = 0, 0, [], 0, False
        self.window_ns = None
        if words:
            d.i_cmd__payload.value = words[0]
        while cycle <= max_cycles:
            phase = cycle % period
            offer = pos < len(words) and (offered or may_offer[phase] == "1")
            d.i_cmd__valid.value = int(offer)
            d.o_rsp__ready.value = int(ready[phase] == "1")
            await ReadOnly()
            took = offer and int(d.i_cmd__ready.value)
            rsp = int(d.o_rsp__valid.value)
            if rsp and ready[phase] == "1":
                got.append((cycle, int(d.o_rsp__payload.value)))
            running = int(d.running.value)
            if window is not None:
                self._track_window(window, running)
            await RisingEdge(d.clk)
            cycle += 1
            offered = offer and not took
            if took:
                pos += 1
                if pos < len(words):
                    d.i_cmd__payload.value = words[pos]
            done = pos == len(words) and (expected_count is None or len(got) >= expected_count)
            quiet = quiet + 1 if done and not rsp and not running else 0
            if quiet > 64:
                break
        return got

    def _track_window(self, window, running):
        # The same rule as the C++ harness (csrc/chip_main.cpp): values sampled after a
        # rising edge hold until the next one, so the window closes half a period later.
        tick = int(self.dut.tick.value)
        now = get_sim_time("ns")
        if self.window_ns is None:
            if running and tick == window[0]:
                self.window_ns = [now, now + 5]
        elif tick <= window[1]:
            self.window_ns[1] = now + 5


if cocotb is not None:

    @cocotb.test()
    async def test_cases(dut):
        spec = json.loads(Path(os.environ["CHIP_CASES"]).read_text())
        out = Path(os.environ["CHIP_OUT"])
        window = spec.get("waves_ticks")
        tb = ChipTB(dut)
        observed, windows = [], []
        for case in spec["cases"]:
            await tb.reset(case.get("memory"))
            words = [int(w) for w in case["words"]]
            expected = case.get("expected")
            if expected is not None:
                expected = [(c, int(w)) for c, w in expected]
            got = await tb.run(
                words,
                expected_count=None if expected is None else len(expected),
                max_cycles=(expected[-1][0] + 10_000) if expected else 50_000_000,
                window=window,
                schedule=case.get("schedule"),
            )
            observed.append([[c, str(w)] for c, w in got])
            windows.append(tb.window_ns)
            msg = None if expected is None else mismatch(case["seed"], got, expected)
            if msg:
                (out.parent / "mismatch.txt").write_text(msg)
                raise AssertionError(msg)
            dut._log.info(f"case {case['seed']}: {len(got)} responses")
        out.write_text(json.dumps({"responses": observed, "windows": windows}))


def run_image_rtl(
    image,
    inputs,
    ticks,
    *,
    runner=None,
    load="direct",
    simulator="verilator",
    waves=None,
    waves_ticks=None,
    expected=None,
    counters=False,
):
    """Load ``image``, run ``ticks`` ticks with ``inputs`` and read back every neuron's state.

    Parameters
    ----------
    runner : "verilator" (compiled C++ harness), "cocotb", or None (cocotb for Icarus)
    load : "direct" (the image placed in the memories before cycle 0) or "hostlink"
        (CONFIG_WRITE commands). Cycles per tick are the same; response cycles are
        shifted by the load.
    simulator : "verilator" or "icarus" (cocotb runner only)
    waves, waves_ticks : a .fst/.vcd file, and ticks (A, B) to dump (docs/waves.md)
    expected : [(cycle, word)], optional
        Every response must come on exactly this cycle (HdlSimError names the first
        that does not).
    counters : False, None or int
        On a chip with hardware counters: read every register over the host link after the
        last tick (None) and after every K ticks (an int K), as sim.timed.run_image_timed;
        decoded into ``Result.extra["hw_counters"]`` (firmware.loader.decode_counters).

    Returns (Result, responses with cycles).
    """
    from spikemesh.hdlsim import HdlSimError

    from .loader import (
        config_commands,
        decode_run,
        pack_commands,
        read_state_commands,
        route_commands,
        run_commands,
        segmented_run_commands,
        unpack_responses,
    )

    if load not in LOADS:
        raise HdlSimError(f"load must be one of {', '.join(LOADS)}, not {load!r}")
    if waves_ticks is not None and not 0 <= int(waves_ticks[0]) <= int(waves_ticks[1]) < ticks:
        raise HdlSimError(
            f"waves_ticks ({waves_ticks[0]}, {waves_ticks[1]}) must lie within the run's "
            f"ticks 0..{ticks - 1}"
        )
    if counters is not False and not image.chip.counter_bits:
        raise HdlSimError(
            "counters: the image's chip has no hardware counters (ChipConfig.counter_bits = 0)"
        )
    if counters is False:
        run = run_commands(image, inputs, ticks)
    else:
        run = segmented_run_commands(image, inputs, ticks, counters)
    cmds = run + read_state_commands(image)
    if load == "hostlink":
        cmds = config_commands(image) + cmds
    # the route tables go over the host link with either load, as after a manufacturing test
    cmds = route_commands(image) + cmds
    case = {"seed": image.network_name, "words": pack_commands(image, cmds), "expected": expected}
    if load == "direct":
        case["image"] = image
    (got,) = run_rtl(
        image.chip,
        [case],
        runner=runner,
        simulator=simulator,
        waves=waves,
        waves_ticks=waves_ticks,
    )
    try:
        res = decode_run(image, unpack_responses([w for _, w in got]), ticks, inputs, backend="rtl")
    except SpikemeshError as e:
        raise SpikemeshError(f"the RTL's responses do not decode: {e}") from None
    return res, got
