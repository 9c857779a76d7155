"""What ``spikemesh run`` shows of a Result: the summary table and the raster plot."""

from __future__ import annotations

import numpy as np

from .golden import Result
from .network import Network


def summary_rows(net: Network, result: Result) -> list[tuple[str, int, int, float]]:
    """(population, neurons, spikes, spikes per neuron per tick) for each population."""
    counts = result.spikes.sum(axis=0)
    ticks = max(result.ticks, 1)
    rows = []
    for p in net.populations:
        n_spk = int(counts[p.offset : p.offset + p.size].sum())
        rows.append((p.name, p.size, n_spk, n_spk / (p.size * ticks)))
    return rows


def cycle_stats(cycles) -> dict | None:
    """Total, mean and max cycles per tick and the slowest tick, or None without cycles."""
    if cycles is None or len(cycles) == 0:
        return None
    c = np.asarray(cycles, dtype=np.int64)
    slowest = int(np.argmax(c))
    return {
        "total": int(c.sum()),
        "mean": float(c.mean()),
        "max": int(c[slowest]),
        "slowest_tick": slowest,
        "min": int(c.min()),
    }


def print_summary(console, net: Network, result: Result, *, title: str | None = None):
    """The run summary as a rich table: per population, then the total, wall time, cycles."""
    from rich.table import Table

    table = Table(title=title or f"{net.name}: {result.ticks} ticks on {result.backend}")
    table.add_column("population")
    table.add_column("neurons", justify="right")
    table.add_column("spikes", justify="right")
    table.add_column("rate /neuron/tick", justify="right")
    rows = summary_rows(net, result)
    for name, n, spikes, rate in rows:
        table.add_row(name, f"{n:,}", f"{spikes:,}", f"{rate:.4f}")
    n_all = sum(r[1] for r in rows)
    s_all = sum(r[2] for r in rows)
    rate_all = s_all / (max(n_all, 1) * max(result.ticks, 1))
    table.add_section()
    table.add_row("total", f"{n_all:,}", f"{s_all:,}", f"{rate_all:.4f}", style="bold")
    console.print(table)
    line = f"{int(result.inputs.sum()):,} input spikes; wall time {result.wall_time:.3f} s"
    stats = cycle_stats(result.cycles)
    if stats is not None:
        line += f"; {stats['total']:,} cycles"
    console.print(line, soft_wrap=True)
    if stats is not None:
        rate = stats["total"] / result.wall_time if result.wall_time > 0 else 0.0
        console.print(
            f"cycles per tick: mean {stats['mean']:,.1f}, max {stats['max']:,} "
            f"(slowest tick {stats['slowest_tick']}), min {stats['min']:,}; "
            f"{rate / 1e6:,.2f} M simulated cycles/s",
            soft_wrap=True,
        )


def plot_raster(net: Network, result: Result, path):
    """A spike raster (inputs on top when there are any, cycles per tick below on timed
    backends) written as an image with Agg."""
    # Figure + its own Agg canvas, not pyplot: no global backend switch, no GUI.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    has_inputs = result.inputs.shape[1] > 0
    has_cycles = result.cycles is not None and len(result.cycles) > 0
    ratios = ([1] if has_inputs else []) + [3] + ([1] if has_cycles else [])
    fig = Figure(figsize=(9, 3 + 1.25 * len(ratios)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(np.atleast_1d(fig.subplots(len(ratios), 1, sharex=True, height_ratios=ratios)))
    if has_inputs:
        ax_in = axes.pop(0)
        t, i = np.nonzero(result.inputs)
        ax_in.plot(t, i, "|", color="0.4", markersize=3)
        ax_in.set_ylabel("input")
        ax_in.set_ylim(-0.5, result.inputs.shape[1] - 0.5)
    ax = axes.pop(0)
    for k, p in enumerate(net.populations):
        t, i = np.nonzero(result.spikes[:, p.offset : p.offset + p.size])
        ax.plot(t, i + p.offset, "|", color=f"C{k % 10}", markersize=3, label=p.name)
        if p.offset:
            ax.axhline(p.offset - 0.5, color="0.8", linewidth=0.5)
    ax.set_xlim(-0.5, max(result.ticks, 1) - 0.5)
    ax.set_ylim(-0.5, max(net.num_neurons, 1) - 0.5)
    ax.set_ylabel("neuron")
    if net.populations:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", markerscale=3)
    if has_cycles:
        ax_c = axes.pop(0)
        ax_c.plot(np.arange(len(result.cycles)), result.cycles, color="C3", linewidth=0.8)
        ax_c.set_ylabel("cycles/tick")
        ax_c.set_ylim(bottom=0)
        ax_c.set_xlabel("tick")
    else:
        ax.set_xlabel("tick")
    fig.suptitle(f"{net.name}: {result.backend}, {result.ticks} ticks")
    fig.savefig(path, dpi=100)
