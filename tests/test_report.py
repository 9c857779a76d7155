"""The run report (spikemesh/report.py): metrics by hand, JSON, tables, plots, CLI glue."""

import argparse
import json

import numpy as np
import pytest
from rich.console import Console
from spikemesh.sim.chip import ChipModel

from spikemesh.energy import EnergyProfileError
from spikemesh.golden import run_golden
from spikemesh.netfile import load_network
from spikemesh.report import (
    add_report_arguments,
    build_report,
    memory_footprint,
    plot_activity,
    plot_link_heatmap,
    print_report,
    write_report,
)
from tests.test_counters import hand_network

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def hand():
    net, image, result = hand_network()
    result.cycles = np.array([30, 20, 12])
    result.backend = "tlm-timed-like"
    return net, image, result


def test_metrics_of_the_hand_network(hand):
    net, image, result = hand
    report = json.loads(json.dumps(build_report(net, image, result)))
    m = report["metrics"]
    assert m["synaptic_operations"] == {"total": 9, "per_tick_mean": 3.0, "per_tick_max": 7}
    # 4 spikes in 8 neurons x 3 ticks
    assert m["activation_sparsity"] == pytest.approx(1 - 4 / 24)
    # 9 nonzero synapses of (8 neurons + 1 input) x 8 possible
    assert m["connection_sparsity"] == pytest.approx(1 - 9 / 72)
    assert (m["synapses"], m["nonzero_synapses"]) == (9, 9)
    # 15 flit-hops for 6 flits delivered to cores and 2 to the host
    assert m["mean_hops_per_flit"] == pytest.approx(15 / 8)
    assert report["cycles"] == {"total": 62, "per_tick_mean": 62 / 3, "per_tick_max": 30}
    assert set(report["energy"]) == {"loihi", "fpga-ecp5"}
    assert report["energy"]["loihi"]["latency_s"] == pytest.approx(62 / 285.7e6)


# Word widths of the hand chip (16 neurons, 16 axons, 16 synapses, 16 fan-out, 1 profile):
# neuron 24+24+4+1, profile 12+12+17+13+3+4+1 (reset) = 62, axon 4+5+3, synapse 4+8,
# fan-out pointer 4+5+1, fan-out entry 1+1+4, accumulator 24.
HAND_BITS = {
    "NEURON": 8 * 53,  # two placed neurons on each of 4 cores
    "PROFILE": 4 * 62,  # one profile per core
    "AXON": 6 * 12,  # in->a, d->a, a->b, b->c, a->d (exp 0), a->d (exp 1)
    "SYNAPSE": 9 * 12,
    "FANPTR": 8 * 10,
    "FANOUT": 5 * 6,  # a[0]: 3 entries, d[1]: 1, b[0]: 1 (the input's entry is host-side)
    "ACC": 16 * 24,  # both parities of every placed neuron
}


def test_memory_footprint_by_hand(hand):
    _, image, _ = hand
    mem = memory_footprint(image)
    assert mem["by_region_bytes"] == {k: -(-v // 8) for k, v in HAND_BITS.items()}
    assert mem["image_bytes"] == -(-sum(HAND_BITS.values()) // 8) == 169
    per_tile = 16 * 53 + 62 + 16 * 12 + 16 * 12 + 16 * 10 + 16 * 6 + 32 * 24
    assert mem["chip_capacity_bytes"] == -(-4 * per_tile // 8)
    assert mem["host_input_table_bytes"] == 1
    # a footprint that counted one accumulator per neuron would be 24 bytes smaller
    assert mem["image_bytes"] != -(-(sum(HAND_BITS.values()) - 8 * 24) // 8)


def test_golden_and_tlm_reports_agree():
    net = load_network("examples/ei_random.yaml")
    from spikemesh.firmware import auto_chip, compile_network

    image, _ = compile_network(net, auto_chip(net))
    golden = build_report(net, image, run_golden(net, 40))
    tlm = build_report(net, image, ChipModel(image).run(40, net.input_raster(40)))
    assert golden["counters"]["source"] == "network" and tlm["counters"]["source"] == "image"
    for key in ("totals", "per_core", "forwarded", "per_tick"):
        assert golden["counters"][key] == tlm["counters"][key]
    assert golden["metrics"] == tlm["metrics"]
    assert golden["energy"]["loihi"]["totals_j"] == tlm["energy"]["loihi"]["totals_j"]
    assert golden["energy"]["loihi"]["latency_s"] is None


def test_print_report(hand):
    net, image, result = hand
    console = Console(record=True, width=140)
    print_report(console, build_report(net, image, result))
    text = console.export_text()
    for needle in (
        "hand: activity over 3 ticks",
        "│ sops           │     9 │      3.0 │",
        "activation sparsity",
        "0.8333",
        "loihi v1 (published)",
        "fpga-ecp5 v2 (estimate)",
        "latency per tick",
        "(1,1)",
    ):
        assert needle in text, needle


def test_print_report_without_cycles_says_why(hand):
    net, image, result = hand
    result.cycles = None
    console = Console(record=True, width=140)
    print_report(console, build_report(net, image, result, "loihi"))
    assert "no cycle counts on this backend" in console.export_text()


def test_plots_are_pngs(hand, tmp_path):
    net, image, result = hand
    report = build_report(net, image, result)
    plot_activity(report, tmp_path / "a.png")
    plot_link_heatmap(report, tmp_path / "h.png")
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG


def parse(*argv):
    p = argparse.ArgumentParser()
    add_report_arguments(p)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(list(argv))
    args.chip, args.acc_bits = None, 24
    return args


def test_report_arguments():
    args = parse()
    assert (args.report, args.energy_profile, args.activity_plot, args.link_heatmap) == (
        None,
        None,
        None,
        None,
    )
    args = parse("--report", "r.json", "--energy-profile", "loihi", "--energy-profile", "x.yaml")
    assert args.energy_profile == ["loihi", "x.yaml"]


def test_write_report(hand, tmp_path):
    net, image, result = hand
    assert write_report(parse(), net, image, result, Console()) is None  # nothing asked
    out = tmp_path / "r.json"
    args = parse(
        "--report",
        str(out),
        "--energy-profile",
        "loihi",
        "--activity-plot",
        str(tmp_path / "a.png"),
        "--link-heatmap",
        str(tmp_path / "h.png"),
    )
    console = Console(record=True, width=140)
    report = write_report(args, net, image, result, console)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert list(report["energy"]) == ["loihi"]
    assert f"report written to {out}" in console.export_text()
    assert (tmp_path / "h.png").exists() and (tmp_path / "a.png").exists()


def test_write_report_compiles_when_given_no_image(tmp_path):
    net = load_network("examples/ei_random.yaml")
    result = run_golden(net, 10)
    args = parse("--report", str(tmp_path / "r.json"), "--quiet")
    report = write_report(args, net, None, result, Console())
    assert report["ticks"] == 10 and report["counters"]["totals"]["spikes"] == result.spikes.sum()


def test_write_report_with_a_bad_profile(hand, tmp_path):
    net, image, result = hand
    (tmp_path / "p.yaml").write_text("name: p\nversion: 1\nenergy_pj: {}\nstatic_mw: {}\n")
    args = parse("--report", str(tmp_path / "r.json"), "--energy-profile", str(tmp_path / "p.yaml"))
    with pytest.raises(EnergyProfileError, match="missing clock_mhz"):
        write_report(args, net, image, result, Console())
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("shape", [(1, 1), (4, 3), (1, 3)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_heatmap_on_other_meshes(shape, tmp_path):
    from spikemesh.firmware import compile_network

    from spikemesh.config import ChipConfig, CoreConfig
    from tests.firmware.random_nets import random_network

    net = random_network(4, max_neurons=60)
    chip = ChipConfig(
        width=shape[0],
        height=shape[1],
        core=CoreConfig(neurons=64, axons=1024, synapses=8192, fanout=4096),
    )
    npc = max(1, -(-net.num_neurons // chip.tiles))
    image, _ = compile_network(net, chip, neurons_per_core=npc)
    report = build_report(net, image, run_golden(net, 10), "fpga-ecp5")
    fwd = np.array(report["counters"]["forwarded"])
    assert fwd.shape == (chip.tiles, 5)
    # nothing leaves the mesh except through (0, 0)'s West port (the host link)
    x, y = np.arange(chip.tiles) % shape[0], np.arange(chip.tiles) // shape[0]
    assert fwd[x == shape[0] - 1, 2].sum() == fwd[y == shape[1] - 1, 1].sum() == 0
    assert fwd[y == 0, 3].sum() == fwd[(x == 0) & (y > 0), 4].sum() == 0
    plot_link_heatmap(report, tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG


def test_report_reads_the_hardware_counters_on_tlm_timed(tmp_path):
    """--report on -b tlm-timed: the chip gets 40-bit counters, the reading after the last
    tick equals the image walk (and -b tlm's timing-free counters), the report says where
    each counter came from; a reading changed by one is an error naming the counter."""
    from spikemesh.backends import compile_for, run_backend
    from spikemesh.cli import build_parser, resolve_run_args
    from spikemesh.counters import COUNTER_BITS, CounterError

    reports = {}
    for backend in ("tlm", "tlm-timed"):
        report = str(tmp_path / f"{backend}.json")
        argv = ["run", "examples/ei_random.yaml", "-b", backend, "--ticks", "30", "--quiet"]
        args = build_parser().parse_args([*argv, "--report", report])
        resolve_run_args(args)
        net = load_network("examples/ei_random.yaml")
        result = run_backend(backend, net, 30, args)
        reports[backend] = write_report(args, net, None, result, Console())
        if backend == "tlm-timed":
            image = compile_for(net, args)
            assert image.chip.counter_bits == COUNTER_BITS
            hw = result.extra["hw_counters"]
            assert hw["after_tick"].tolist() == [30]
            hw["sops"][0, 1] += 1
            with pytest.raises(CounterError, match=r"hardware counter sops at tile \(1,0\)"):
                build_report(net, image, result)
    tlm, timed = reports["tlm"], reports["tlm-timed"]
    assert tlm["hardware_counters"] is None and tlm["chip"]["counter_bits"] == 0
    hw = timed["hardware_counters"]
    assert hw["counter_bits"] == COUNTER_BITS and hw["after_tick"] == [30]
    for name in timed["timing_free"]:
        assert hw["totals"][name] == tlm["counters"]["totals"][name], name
    assert hw["totals"]["cycles"] == timed["cycles"]["total"]
    assert hw["totals"]["router_blocked"] == timed["counters"]["totals"]["router_blocked"]
    assert "READ_COUNTER" in timed["counter_sources"]["sops"]
    assert "READ_COUNTER" not in tlm["counter_sources"]["sops"]
    assert tlm["counter_sources"]["cycles"] is None
