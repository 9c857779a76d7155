"""The run report: counters, NeuroBench-style metrics, energy and latency (docs/energy.md).

``build_report(network, image, result, profiles)`` returns a JSON-serialisable dict;
``print_report`` shows it as rich tables; ``plot_activity`` and ``plot_link_heatmap`` draw the
per-tick activity/energy panels and the per-link flit load over the mesh (PNG, Agg).
For the CLI: ``add_report_arguments(run_parser)`` adds ``--report``, ``--energy-profile``,
``--activity-plot`` and ``--link-heatmap``; ``write_report(args, net, image, result, console)``
does what they ask.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .counters import (
    COUNTERS,
    TIMING_FREE,
    Counters,
    counters_from_image,
    counters_from_network,
)
from .counters_hw import check_hw_counters, hw_totals
from .energy import builtin_profiles, energy, load_profile
from .layouts import Region, region_layouts

REPORT_SCHEMA = "spikemesh-report"
REPORT_VERSION = 1
DEFAULT_PROFILES = ("loihi", "fpga-ecp5")


# --- metrics ----------------------------------------------------------------------------------


def memory_footprint(image) -> dict:
    """Bytes of chip memory the image fills, per region, and what the chip provides.

    Words used per core: NEURON and FANPTR one per placed neuron, ACC two per placed neuron
    (both tick parities), PROFILE the profiles, AXON the axons with a row, SYNAPSE and FANOUT
    their entries; each word is as wide as its layout (spikemesh/layouts.py). The host-side
    input table (source -> (x, y, axon)) lives in the host and is given separately.
    """
    chip = image.chip
    n = chip.core.neurons
    placed = np.bincount(np.asarray(image.neuron_slot, dtype=np.int64) // n, minlength=chip.tiles)
    layouts = region_layouts(chip)
    used_bits = dict.fromkeys((r.name for r in layouts), 0)
    for t, core in enumerate(image.cores):
        words = {
            Region.NEURON: placed[t],
            Region.PROFILE: core.profiles.shape[0],
            Region.AXON: int(np.count_nonzero(core.axon_len)),
            Region.SYNAPSE: core.syn_target.size,
            Region.FANPTR: placed[t],
            Region.FANOUT: core.fan_x.size,
            Region.ACC: 2 * placed[t],
        }
        for region, count in words.items():
            used_bits[region.name] += int(count) * layouts[region][0].width
    capacity = sum(lay.width * depth for lay, depth in layouts.values()) * chip.tiles
    entry_bits = chip.x_bits + chip.y_bits + chip.core.axon_bits
    return {
        "image_bytes": math.ceil(sum(used_bits.values()) / 8),
        "by_region_bytes": {k: math.ceil(v / 8) for k, v in used_bits.items()},
        "chip_capacity_bytes": math.ceil(capacity / 8),
        "host_input_table_bytes": math.ceil(int(image.src_axon.size) * entry_bits / 8),
    }


def neurobench_metrics(network, image, result, counters: Counters) -> dict:
    """Synaptic operations, activation and connection sparsity, memory footprint.

    NeuroBench's definitions: activation sparsity is the fraction of zero activations over
    all neurons and timesteps (0 = every neuron always fires); connection sparsity is the
    fraction of absent (or zero) weights among all possible pre x post connections; synaptic
    operations are effective accumulates, one per (spike, stored synapse) pair, which is the
    ``sops`` counter (the hardware accumulates every stored synapse, zero weights included).
    """
    ticks = counters.ticks
    sops = counters.per_tick("sops")
    n, s = network.num_neurons, network.num_sources
    spikes = int(np.asarray(result.spikes).sum())
    _, _, w, _ = network.synapse_arrays()
    nonzero = int(np.count_nonzero(w))
    possible = (n + s) * n
    delivered = int(counters.flits_ejected.sum() + counters.host_received.sum())
    return {
        "synaptic_operations": {
            "total": int(sops.sum()),
            "per_tick_mean": float(sops.mean()) if ticks else 0.0,
            "per_tick_max": int(sops.max()) if ticks else 0,
        },
        "activation_sparsity": 1.0 - spikes / (n * ticks) if n and ticks else 1.0,
        "connection_sparsity": 1.0 - nonzero / possible if possible else 1.0,
        "synapses": int(w.size),
        "nonzero_synapses": nonzero,
        "neurons": n,
        "input_channels": s,
        "spikes": spikes,
        "input_spikes": int(np.asarray(result.inputs).sum()),
        "mean_hops_per_flit": float(counters.flit_hops.sum() / max(1, delivered)),
        "memory_footprint": memory_footprint(image),
    }


# --- the report -------------------------------------------------------------------------------


def run_counters(network, image, result) -> Counters:
    """Golden results are counted from the network, every other backend's from the image.

    A run that read the chip's hardware counters (``result.extra["hw_counters"]``: rtl and
    tlm-timed with a report) has every reading checked against the per-tick counts summed
    up to it (spikemesh.counters_hw.check_hw_counters: CounterError naming the counter)."""
    if result.backend == "golden":
        c = counters_from_network(network, image, result)
    else:
        c = counters_from_image(image, result)
    hw = (getattr(result, "extra", None) or {}).get("hw_counters")
    if hw is not None:
        check_hw_counters(c, hw, image.chip.counter_bits)
        c.extra["hw_counters"] = hw
    return c


def counter_sources(counters: Counters) -> dict:
    """Where each counter of the report came from (docs/counters.md, "Reading them")."""
    hw = counters.extra.get("hw_counters")
    walk = f"{counters.source} walk (spikemesh.counters.counters_from_{counters.source})"
    read = "; equal to the hardware registers read with READ_COUNTER after the last tick"
    out = dict.fromkeys(TIMING_FREE, walk + (read if hw else ""))
    if counters.cycles is None:
        out["cycles"] = None
    else:
        out["cycles"] = "TICK_DONE responses" + (read if hw else "")
    if counters.router_blocked is not None:
        out["router_blocked"] = "the timed model's registers at every tick end" + (
            read if hw else ""
        )
    elif hw:
        out["router_blocked"] = "hardware registers read with READ_COUNTER (run total only)"
    else:
        out["router_blocked"] = None
    return out


def build_report(network, image, result, profile=None) -> dict:
    """A JSON-serialisable report of one run.

    Parameters
    ----------
    network : Network
    image : ChipImage
        The network compiled for the chip it ran on (golden: the chip it would run on).
    result : Result
    profile : EnergyProfile, name, file, or a list of them
        Energy profiles to evaluate (default: the built-in loihi and fpga-ecp5).
    """
    profiles = DEFAULT_PROFILES if profile is None else profile
    if isinstance(profiles, (str, Path)) or not hasattr(profiles, "__iter__"):
        profiles = [profiles]
    profiles = [load_profile(p) for p in profiles]
    counters = run_counters(network, image, result)
    cyc = counters.cycles
    counts = counters.to_dict()
    hw = counters.extra.get("hw_counters")
    if hw is not None and counts["totals"].get("router_blocked") is None:
        counts["totals"]["router_blocked"] = hw_totals(hw)["router_blocked"]
    return {
        "schema": REPORT_SCHEMA,
        "version": REPORT_VERSION,
        "network": network.name,
        "backend": result.backend,
        "ticks": counters.ticks,
        "chip": image.chip.to_dict(),
        "counters": counts,
        "counter_sources": counter_sources(counters),
        "hardware_counters": (
            None
            if hw is None
            else {
                "counter_bits": image.chip.counter_bits,
                "readings": len(hw["after_tick"]),
                "after_tick": hw["after_tick"].tolist(),
                "totals": hw_totals(hw),
            }
        ),
        "timing_free": [c.name for c in COUNTERS if c.timing_free],
        "metrics": neurobench_metrics(network, image, result, counters),
        "cycles": (
            None
            if cyc is None
            else {
                "total": int(cyc.sum()),
                "per_tick_mean": float(cyc.mean()) if cyc.size else 0.0,
                "per_tick_max": int(cyc.max()) if cyc.size else 0,
            }
        ),
        "energy": {p.name: energy(counters, p).to_dict() for p in profiles},
    }


def _si(x, unit):
    """Engineering notation: 1.23 µJ, 456 ns."""
    if x is None:
        return "-"
    if x == 0:
        return f"0 {unit}"
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x / 1e-15:.3g} f{unit}"


def print_report(console, report: dict, *, max_cores: int = 16) -> None:
    """The report as rich tables: activity, busiest cores, metrics, energy per profile."""
    from rich.table import Table

    c = report["counters"]
    ticks = max(report["ticks"], 1)
    act = Table(title=f"{report['network']}: activity over {report['ticks']} ticks")
    for col in ("counter", "total", "per tick", "kind"):
        act.add_column(col, justify="left" if col in ("counter", "kind") else "right")
    free = set(report["timing_free"])
    for name in (
        "sops",
        "events",
        "neuron_updates",
        "spikes",
        "flits_injected",
        "host_flits",
        "host_injected",
        "flit_hops",
        "cycles",
        "router_blocked",
    ):
        v = c["totals"].get(name)
        kind = "timing-free" if name in free or name == "flit_hops" else "timing-dependent"
        act.add_row(name, "-" if v is None else f"{v:,}", _per(v, ticks), kind)
    console.print(act)
    hw = report.get("hardware_counters")
    if hw is not None:
        console.print(
            f"hardware counters ({hw['counter_bits']}-bit registers) read over the host link "
            f"(READ_COUNTER) after tick {hw['after_tick'][-1]}: equal to the per-tick counts",
            soft_wrap=True,
        )

    tiles = c["tiles"]
    fwd = np.array(c["forwarded"])
    order = np.argsort(-np.array(c["per_core"]["sops"]), kind="stable")[:max_cores]
    cores = Table(title="per core" + (" (busiest)" if len(tiles) > max_cores else ""))
    for col in ("tile", "spikes", "SOPs", "events", "flits out", "hops out N/E/S/W"):
        cores.add_column(col, justify="right")
    for t in order:
        x, y = tiles[t]
        cores.add_row(
            f"({x},{y})",
            f"{c['per_core']['spikes'][t]:,}",
            f"{c['per_core']['sops'][t]:,}",
            f"{c['per_core']['events'][t]:,}",
            f"{c['per_core']['flits_injected'][t]:,}",
            "/".join(f"{int(v):,}" for v in fwd[t, 1:]),
        )
    console.print(cores)

    m = report["metrics"]
    met = Table(title="NeuroBench-style metrics")
    met.add_column("metric")
    met.add_column("value", justify="right")
    so = m["synaptic_operations"]
    mem = m["memory_footprint"]
    for k, v in (
        ("synaptic operations, total", f"{so['total']:,}"),
        (
            "synaptic operations per tick",
            f"{so['per_tick_mean']:,.1f} (max {so['per_tick_max']:,})",
        ),
        ("activation sparsity", f"{m['activation_sparsity']:.4f}"),
        ("connection sparsity", f"{m['connection_sparsity']:.4f}"),
        ("memory footprint (image)", f"{mem['image_bytes']:,} B"),
        ("chip memory", f"{mem['chip_capacity_bytes']:,} B"),
        ("mean hops per delivered flit", f"{m['mean_hops_per_flit']:.2f}"),
    ):
        met.add_row(k, v)
    console.print(met)

    en = Table(title="energy and latency")
    en.add_column("")
    names = list(report["energy"])
    for name in names:
        prof = report["energy"][name]["profile"]
        en.add_column(f"{name} v{prof['version']} ({prof['kind']})", justify="right")
    rows = [
        (f"{k}", [_si(report["energy"][n]["totals_j"][k], "J") for n in names])
        for k in ("synapses", "neurons", "routing", "static", "total")
    ]
    rows.append(("per tick", [_si(report["energy"][n]["energy_per_tick_j"], "J") for n in names]))
    rows.append(
        (
            "per SOP",
            [
                _si(report["energy"][n]["totals_j"]["total"] / max(1, so["total"]), "J")
                for n in names
            ],
        )
    )
    rows.append(
        ("latency per tick", [_si(report["energy"][n]["latency_per_tick_s"], "s") for n in names])
    )
    rows.append(("EDP", [_si(report["energy"][n]["edp_js"], "J·s") for n in names]))
    for label, cells in rows:
        en.add_row(label, *cells)
    console.print(en)
    if report["cycles"] is None:
        console.print(
            "no cycle counts on this backend: latency, static energy and EDP need a timed "
            "backend (tlm-timed, tlm-cycle, rtl)",
            soft_wrap=True,
        )


def _per(v, ticks):
    return "-" if v is None else f"{v / ticks:,.1f}"


# --- plots ------------------------------------------------------------------------------------


def _figure(rows, height):
    # Figure + its own Agg canvas, not pyplot: no global backend switch, no GUI.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(np.atleast_1d(fig.subplots(rows, 1, sharex=True)))


def plot_activity(report: dict, path) -> None:
    """Per-tick panels: spikes, SOPs, flits and hops, energy by component per profile,
    and latency per tick when the run has cycles."""
    pt = report["counters"]["per_tick"]
    ticks = np.arange(report["ticks"])
    profiles = list(report["energy"])
    has_lat = report["cycles"] is not None
    fig, axes = _figure(3 + len(profiles) + has_lat, 2.2 * (3 + len(profiles) + has_lat))
    ax = axes.pop(0)
    ax.plot(ticks, pt["spikes"], color="C0", lw=0.8, label="spikes")
    ax.set_ylabel("spikes")
    ax = axes.pop(0)
    ax.plot(ticks, pt["sops"], color="C1", lw=0.8)
    ax.set_ylabel("SOPs")
    ax = axes.pop(0)
    ax.plot(ticks, pt["flits_injected"], color="C2", lw=0.8, label="flits from cores")
    ax.plot(ticks, pt["flit_hops"], color="C4", lw=0.8, label="flit-hops")
    ax.legend(loc="upper right", fontsize="small")
    ax.set_ylabel("flits")
    for name in profiles:
        e = report["energy"][name]["per_tick_j"]
        ax = axes.pop(0)
        parts = [(k, np.asarray(e[k])) for k in ("synapses", "neurons", "routing", "static")]
        parts = [(k, v * 1e6) for k, v in parts if e[k] is not None]
        ax.stackplot(ticks, *[v for _, v in parts], labels=[k for k, _ in parts], alpha=0.85)
        ax.set_ylabel(f"µJ/tick\n{name}")
        ax.legend(loc="upper right", fontsize="small", ncol=len(parts))
    if has_lat:
        ax = axes.pop(0)
        for k, name in enumerate(profiles):
            lat = report["energy"][name]["per_tick_latency_s"]
            ax.plot(ticks, np.asarray(lat) * 1e6, lw=0.8, color=f"C{k + 5}", label=name)
        ax.set_ylabel("µs/tick")
        ax.legend(loc="upper right", fontsize="small")
    fig.axes[-1].set_xlabel("tick")
    fig.suptitle(f"{report['network']}: {report['backend']}, {report['ticks']} ticks")
    fig.savefig(path, dpi=100)


def plot_link_heatmap(report: dict, path) -> None:
    """Flits over every link of the mesh during the run, as coloured arrows (one per direction),
    with each tile's SOPs written in it; the host link leaves (0, 0) to the West."""
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    chip = report["chip"]
    w, h = chip["width"], chip["height"]
    fwd = np.array(report["counters"]["forwarded"])
    sops = report["counters"]["per_core"]["sops"]
    side = max(4.0, min(14.0, 1.3 * max(w, h) + 2))
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    ax = fig.subplots()
    step = {1: (0, 1), 2: (1, 0), 3: (0, -1), 4: (-1, 0)}  # N, E, S, W
    segs, loads = [], []
    for t in range(w * h):
        x, y = t % w, t // w
        for p, (dx, dy) in step.items():
            if not (0 <= x + dx < w and 0 <= y + dy < h) and not (t == 0 and p == 4):
                continue
            # offset each direction to its right so both directions of a link are visible
            ox, oy = 0.08 * dy, -0.08 * dx
            segs.append(
                [(x + 0.22 * dx + ox, y + 0.22 * dy + oy), (x + 0.78 * dx + ox, y + 0.78 * dy + oy)]
            )
            loads.append(fwd[t, p])
    loads = np.array(loads, dtype=float)
    cmap = colormaps["viridis"]
    norm = Normalize(vmin=0, vmax=max(1.0, float(loads.max()) if loads.size else 1.0))
    lc = LineCollection(segs, colors=cmap(norm(loads)), linewidths=4)
    ax.add_collection(lc)
    for (a, b), v in zip(segs, loads, strict=True):
        ax.annotate("", xy=b, xytext=a, arrowprops={"arrowstyle": "->", "color": cmap(norm(v))})
    for t in range(w * h):
        x, y = t % w, t // w
        ax.add_patch(_square(x, y))
        ax.text(x, y, f"({x},{y})\n{sops[t]:,}\nSOPs", ha="center", va="center", fontsize=7)
    ax.text(-1, 0, "host", ha="center", va="center", fontsize=8)
    ax.set_xlim(-1.5, w - 0.5)
    ax.set_ylim(-0.5, h - 0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    sm = _mappable(cmap, norm)
    fig.colorbar(sm, ax=ax, label="flits over the link (run total)", shrink=0.8)
    ax.set_frame_on(False)
    ax.set_title(f"{report['network']}: flits per link over {report['ticks']} ticks")
    fig.savefig(path, dpi=100)


def _square(x, y):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.2, y - 0.2), 0.4, 0.4, facecolor="0.92", edgecolor="0.5")


def _mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable

    sm = ScalarMappable(norm=norm, cmap=cmap)
    sm.set_array([])
    return sm


# --- CLI glue ---------------------------------------------------------------------------------


def add_report_arguments(run_parser) -> None:
    """Add --report, --energy-profile, --activity-plot and --link-heatmap to ``spikemesh run``."""
    g = run_parser.add_argument_group("energy and activity report (docs/energy.md)")
    g.add_argument(
        "--report", metavar="FILE.json", help="write counters, metrics, energy and latency (JSON)"
    )
    g.add_argument(
        "--energy-profile",
        metavar="NAME|FILE",
        action="append",
        default=None,
        help=f"energy profile, repeatable: {', '.join(builtin_profiles())} or a YAML file "
        f"(default: {' and '.join(DEFAULT_PROFILES)})",
    )
    g.add_argument("--activity-plot", metavar="FILE.png", help="per-tick activity and energy")
    g.add_argument("--link-heatmap", metavar="FILE.png", help="flits per link over the mesh")


def wants_report(args) -> bool:
    return any(getattr(args, k, None) for k in ("report", "activity_plot", "link_heatmap"))


def write_report(args, net, image, result, console) -> dict | None:
    """Do what --report / --activity-plot / --link-heatmap ask (nothing if none was given).

    ``image`` may be None: the network is then compiled for ``args.chip`` (auto-sized when
    none), as the tlm backend would. Prints the report tables unless ``args.quiet``.
    """
    if not wants_report(args):
        return None
    if image is None:
        from .backends import compile_for

        image = compile_for(net, args)
    report = build_report(net, image, result, getattr(args, "energy_profile", None))
    written = []
    if getattr(args, "report", None):
        Path(args.report).write_text(json.dumps(report, indent=1) + "\n")
        written.append(("report", args.report))
    if getattr(args, "activity_plot", None):
        plot_activity(report, args.activity_plot)
        written.append(("activity plot", args.activity_plot))
    if getattr(args, "link_heatmap", None):
        plot_link_heatmap(report, args.link_heatmap)
        written.append(("link heat map", args.link_heatmap))
    if not getattr(args, "quiet", False):
        print_report(console, report)
        for what, path in written:
            console.print(f"{what} written to {path}", soft_wrap=True)
    return report
