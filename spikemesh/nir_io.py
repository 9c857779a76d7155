"""NIR import and export (docs/nir.md): ``Network.from_nir`` / ``spikemesh import``, ``to_nir``.

Import: :func:`import_nir` reads a NIR graph (Input, Output, Affine, Linear, Scale,
Flatten, Delay, LIF, CubaLIF, IF; nested graphs and recurrent edges included), maps
every neuron node to a population with the flavor's formulas (nir_quant.py), quantizes
weights, thresholds and biases with one scale per population, and returns the network
with a :class:`ImportReport`. What the chip cannot do (delays past 15 ticks) is
refused in strict mode, or mapped and reported in lenient mode; reset by subtraction maps
to the profile's ``reset: subtract`` (nir_quant.CHIP_RESETS).

Export: :func:`to_nir` writes a network as LIF/CubaLIF/IF nodes joined by Linear nodes
(the spec flavor's reading, so any NIR tool sees the dynamics) and keeps the exact
integers in node metadata, so that importing the file gives back an identical network.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SpikemeshError
from .network import Network
from .nir_graph import NEURONS, Walker, _arr, _nir, flatten, load_graph
from .nir_quant import (
    CHIP_MAX_DELAY,
    CHIP_RESETS,
    FLAVORS,
    LayerSpec,
    NIRError,
    ProjSpec,
    get_flavor,
    keep_factor,
    quantize_layer,
)

__all__ = ["FLAVORS", "ImportReport", "NIRError", "import_nir", "to_nir", "write_nir"]

RESETS = ("zero", "subtract")
BIAS_SOURCE = "bias"  # a one-channel source firing every tick carries Affine biases


@dataclass
class ImportReport:
    """What an import did, per population and projection (``format()`` prints it).

    Members
    -------
    layers : list of dict
        population, node, kind, scale k, vth, du, dv, threshold error, tau change,
        expected firing-rate effect.
    projections : list of dict
        pre, post, exponent, synapses, clipped, zeroed, max/mean relative error.
    notes : list of str
        Approximations and (lenient mode) differences from the source graph.
    latency : dict
        Ticks each population lags a framework whose feed-forward edges take no time.
    outputs : dict
        Output node -> populations that drive it.
    """

    flavor: str
    dt: float
    strict: bool
    exact: bool = False
    layers: list = field(default_factory=list)
    projections: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    latency: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)

    def format(self) -> str:
        mode = "strict" if self.strict else "lenient"
        lines = [f"NIR import: flavor {self.flavor}, dt {self.dt:g} s, {mode} mode"]
        if self.exact:
            lines.append("spikemesh metadata found: integers taken as written (no quantization)")
        lines.append(
            f"{'population':<16} {'kind':<8} {'scale':>10} {'vth':>7} {'du':>5} {'dv':>5} "
            f"{'thr err':>8} {'rate':>7}  time constants"
        )
        for r in self.layers:
            lines.append(
                f"{r['population']:<16} {r['kind']:<8} {r['scale']:>10.4g} {r['vth']:>7} "
                f"{r['du']:>5} {r['dv']:>5} {r['theta_err']:>+8.2%} {r['rate_effect']:>+7.1%}"
                f"  {r['tau']}"
            )
        lines.append(
            f"{'projection':<30} {'exp':>3} {'synapses':>9} {'clipped':>7} {'zeroed':>6} "
            f"{'max rel':>8} {'mean rel':>8}"
        )
        for r in self.projections:
            name = f"{r['pre']} -> {r['post']}"
            lines.append(
                f"{name:<30} {r['exp']:>3} {r['synapses']:>9} {r['clipped']:>7} "
                f"{r['zeroed']:>6} {r['max_rel']:>8.2%} {r['mean_rel']:>8.2%}"
            )
        if self.latency:
            lag = ", ".join(f"{k} {v}" for k, v in self.latency.items())
            lines.append(f"latency vs a zero-delay feed-forward framework (ticks): {lag}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _name(raw, taken):
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(raw)) or "node"
    base, i = name, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


class _Importer:
    def __init__(self, graph, *, dt, flavor, strict, reset, inputs, name):
        self.graph = graph
        self.flavor = get_flavor(flavor)
        self.strict = strict
        if reset is not None and reset not in RESETS:
            raise NIRError(f"reset must be one of {', '.join(RESETS)}, not {reset!r}")
        self.reset = reset
        self.inputs = inputs or {}
        self.name = name
        self.dt = self._dt(dt)
        self.notes = []

    def _dt(self, dt):
        meta = getattr(self.graph, "metadata", None) or {}
        for value, where in ((dt, "dt="), (meta.get("dt"), "the file's metadata")):
            if value is None:
                continue
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise NIRError(f"time step from {where} is not a number: {value!r}") from None
            if arr.size != 1:
                raise NIRError(f"time step from {where} must be one number, not {arr.size} values")
            value = float(arr.reshape(()))
            if not (math.isfinite(value) and value > 0):
                raise NIRError(f"time step from {where} must be a positive number, not {value}")
            return value
        if self.flavor.dt is None:
            raise NIRError(
                "the NIR file carries no time step (metadata 'dt') and the spec flavor has no "
                "default: pass dt= (spikemesh import --dt SECONDS), or the flavor of the "
                "framework that wrote the file (--flavor snntorch|norse)"
            )
        return self.flavor.dt

    def differ(self, what):
        """A difference the chip cannot express: an error when strict, a note otherwise."""
        if self.strict:
            raise NIRError(f"{what} (lenient mode maps it anyway and reports the difference)")
        self.notes.append(what)

    # --- one neuron node ---
    def _uniform(self, name, kind, pname, values, size):
        a = np.broadcast_to(_arr(values).ravel() if _arr(values).ndim else _arr(values), (size,))
        if not np.all(np.isfinite(a)):
            raise NIRError(f"{kind} {name!r}: {pname} has non-finite values")
        if np.ptp(a) > 1e-6 * max(1.0, float(np.max(np.abs(a)))):
            self.differ(
                f"{kind} {name!r}: {pname} differs between neurons ({a.min():g}..{a.max():g}); "
                "a population shares one profile, so the mean is used"
            )
        return float(a.mean())

    def layer(self, name, kind, node, size, recurrent=False) -> tuple[LayerSpec, float]:
        """The node's per-tick dynamics and its input gain (voltage units per unit of input)."""
        f, dt = self.flavor, self.dt
        p = {
            k: self._uniform(name, kind, k, getattr(node, k), size)
            for k in ("r", "v_threshold", "v_reset", "v_leak", "tau", "tau_mem", "tau_syn", "w_in")
            if getattr(node, k, None) is not None
        }
        for k in ("tau", "tau_mem", "tau_syn"):
            if k in p and p[k] <= 0:
                raise NIRError(f"{kind} {name!r}: {k} must be positive, not {p[k]:g}")
        theta = p["v_threshold"]
        if theta < 0:
            raise NIRError(
                f"{kind} {name!r}: v_threshold {theta:g} is negative; the chip's threshold "
                "is vth << 6 with vth >= 0"
            )
        if p["v_reset"] != 0:
            self.differ(
                f"{kind} {name!r}: v_reset = {p['v_reset']:g}; the chip resets v to 0 "
                "(supported: v_reset = 0)"
            )
        reset = self.reset or ("zero" if f.reset == "file" else f.reset)
        if reset not in CHIP_RESETS:
            why = " (snnTorch's default reset_mechanism; its exporter does not write it)"
            self.differ(
                f"{kind} {name!r}: reset by subtraction{why if f.name == 'snntorch' else ''} "
                f"is not supported by the chip yet (supported: {', '.join(CHIP_RESETS)}); "
                "pass reset='zero' (--reset zero) if the model resets to zero"
            )
            reset = "zero"
        alpha, refr = 0.0, 0
        if kind == "IF":
            beta, gain = 1.0, p["r"] * (1.0 if f.v_gain == "jump" else dt)
        else:
            tau_m = p["tau"] if kind == "LIF" else p["tau_mem"]
            beta = float(keep_factor(tau_m, dt, f))
            t_real = tau_m / dt if f.tau_per_dt else tau_m
            gain = p["r"] * ((1 - beta) if f.v_gain == "exp" else dt / t_real)
        bias = (1 - beta) * p.get("v_leak", 0.0)
        if kind == "CubaLIF":
            alpha = float(keep_factor(p["tau_syn"], dt, f))
            ts = p["tau_syn"] / dt if f.tau_per_dt else p["tau_syn"]
            syn = {"exp": 1 - alpha, "euler": dt / ts, "jump": 1.0}[f.syn_gain]
            gain *= p["w_in"] * syn
            refr = f.cuba_zero_refractory if reset == "zero" else 0
        elif kind == "LIF" and recurrent and reset == "zero":
            refr = f.rec_zero_refractory
        if reset == "subtract" and f.name == "snntorch" and beta < 1:
            # docs/nir.md, flavors row 16: a known difference, reported, never silent.
            self.notes.append(
                f"{kind} {name!r}: subtract reset timing: snnTorch subtracts the threshold at "
                f"the step after a spike, undecayed; the chip subtracts it at the spike tick "
                f"and then decays the rest, so it removes beta * theta (beta = {beta:.4g}) "
                "by the next step"
            )
        for what, keep in (("v", beta), ("u", alpha)):
            if not 0 <= keep <= 1:
                raise NIRError(
                    f"{kind} {name!r}: the {what} decay per tick is {keep:g} at dt = {dt:g} s "
                    f"(flavor {f.name}); the chip keeps a fraction in 0..1 (is dt right?)"
                )
        spec = LayerSpec(name, kind, size, alpha, beta, theta, bias, reset, refr)
        return spec, gain

    # --- the whole graph ---
    def run(self):
        nodes, edges = flatten(self.graph)
        walk = Walker(nodes, edges, self.dt)
        taken = set()
        pops = {n: _name(n, taken) for n, (k, _) in nodes.items() if k in NEURONS}
        srcs = {n: _name(n, taken) for n, (k, _) in nodes.items() if k == "Input"}
        layers, projs = {}, []
        bias_src = None
        for n in pops:
            kind, node = nodes[n]
            terms, const = walk.drive(n)
            recurrent = any(src == n for src, _ in terms)
            spec, gain = self.layer(n, kind, node, walk.size(n), recurrent)
            layers[n] = spec
            syn_gain = gain  # weight of one unit of input, in voltage units
            for (src, d), m in sorted(terms.items()):
                projs.append(ProjSpec(src, n, m * syn_gain, d))
            if np.any(const != 0):
                bias_src = bias_src or _name(BIAS_SOURCE, taken)
                projs.append(ProjSpec(bias_src, n, (const * syn_gain)[:, None], 0))
        outputs = {}
        for n, (kind, _) in nodes.items():
            if kind != "Output":
                continue
            terms, const = walk.output(n)
            bad = [s for s, _ in terms if nodes[s][0] not in NEURONS]
            if (
                bad
                or np.any(const != 0)
                or any(not np.array_equal(m, np.eye(*m.shape)) for m in terms.values())
            ):
                raise NIRError(
                    f"Output {n!r} is not driven by neuron spikes alone (it has weights, "
                    "biases or a direct Input in front of it); the chip outputs spikes only"
                )
            if any(d for _, d in terms):
                self.differ(
                    f"Output {n!r} is behind a Delay node; the chip outputs spikes undelayed"
                )
            outputs[n] = [pops[s] for s, _ in terms]
        for p in projs:
            if p.extra_delay + 1 > CHIP_MAX_DELAY:
                self.differ(
                    f"projection {p.pre!r} -> {p.post!r}: Delay nodes add {p.extra_delay} "
                    f"tick(s), so it needs {1 + p.extra_delay} ticks of synaptic delay; the chip "
                    f"supports at most {CHIP_MAX_DELAY} ticks (CoreConfig.max_delay 15)"
                )
        return pops, srcs, bias_src, layers, projs, outputs, walk


def _latency(pops, projs):
    """Ticks each population lags a framework whose feed-forward edges take no time and
    whose recurrent edges (those on a cycle) take one step; plus the edges that disagree."""
    succ = {}
    for p in projs:
        succ.setdefault(p.pre, set()).add(p.post)

    def reaches(a, b):
        seen, stack = set(), [a]
        while stack:
            x = stack.pop()
            if x == b:
                return True
            if x not in seen:
                seen.add(x)
                stack += list(succ.get(x, ()))
        return False

    ff = [(p.pre, p.post) for p in projs if not reaches(p.post, p.pre)]
    lag = {}

    def get(n):
        if n not in pops:
            return 0
        if n not in lag:
            preds = [a for a, b in ff if b == n]
            lag[n] = max((get(a) + 1 for a in preds), default=1)
        return lag[n]

    for n in pops:
        get(n)
    bad = []
    for p in projs:
        a, b = p.pre, p.post
        # feed-forward: b should lag a by one tick; recurrent (one framework step): by none
        off = get(b) - get(a) - (1 if (a, b) in ff else 0)
        if off:
            when = f"{abs(off)} tick(s) {'early' if off > 0 else 'late'}"
            bad.append(
                f"spikes of {a!r} reach {b!r} {when} relative to the framework's timing "
                "(the chip spends one tick per hop)"
            )
    return {pops[n]: lag[n] for n in pops}, bad


def import_nir(
    source,
    *,
    dt=None,
    flavor="spec",
    strict=True,
    reset=None,
    inputs=None,
    name=None,
):
    """Import a NIR graph or ``.nir`` file; returns ``(network, report)``.

    Parameters
    ----------
    source : path or nir.NIRGraph
    dt : float, optional
        Time step in seconds; default: the file's ``metadata['dt']``, else the flavor's.
    flavor : str
        ``spec``, ``snntorch`` or ``norse``: how the file's numbers are meant (docs/nir.md).
    strict : bool
        Refuse what the chip cannot express (default); ``False`` maps it and reports.
    reset : str, optional
        ``zero`` or ``subtract``: the reset the model was trained with, when the file
        cannot say (default: the flavor's).
    inputs : dict, optional
        Input node name -> bool raster [T, size] to become the source's explicit spikes.
    name : str, optional
        The network's name.

    Raises
    ------
    NIRError
        A broken file, an unsupported node or parameter (strict mode), a shape mismatch,
        or a cycle through non-neuron nodes.
    """
    graph = load_graph(source)
    if name is None:
        name = Path(source).stem if isinstance(source, (str, Path)) else "nir"
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "nir"
    from .nir_export import exact_network

    net = exact_network(graph, name, inputs)
    if net is not None:
        dt_meta = (graph.metadata or {}).get("dt", dt or 1.0)
        report = ImportReport(flavor=get_flavor(flavor).name, dt=float(dt_meta), strict=strict)
        report.exact = True
        net.nir_report = report
        return net, report
    try:
        imp = _Importer(
            graph, dt=dt, flavor=flavor, strict=strict, reset=reset, inputs=inputs, name=name
        )
        pops, srcs, bias_src, layers, projs, outputs, walk = imp.run()
        report = ImportReport(flavor=imp.flavor.name, dt=imp.dt, strict=strict, outputs=outputs)
        net = Network(name)
        _add_sources(net, imp, srcs, walk, bias_src, report)
        names = {**pops, **srcs, **({bias_src: bias_src} if bias_src else {})}
        _add_layers(net, pops, layers, projs, names, report)
    except SpikemeshError:
        raise
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        # A graph nir accepted but whose parameters make no sense (wrong shapes or types
        # in places the checks above do not reach): still an error message, not a traceback.
        raise NIRError(f"malformed NIR graph: {type(e).__name__}: {e}") from None
    report.latency, off = _latency(pops, [p for p in projs if p.pre != bias_src])
    report.notes = imp.notes + report.notes + off
    net.nir_report = report
    return net, report


def _add_sources(net, imp, srcs, walk, bias_src, report):
    for n, src in srcs.items():
        raster = imp.inputs.get(n, imp.inputs.get(src))
        events = []
        if raster is not None:
            raster = np.asarray(raster, dtype=bool).reshape(len(raster), -1)
            if raster.shape[1] != walk.size(n):
                raise NIRError(
                    f"inputs[{n!r}] has {raster.shape[1]} channels, the Input has {walk.size(n)}"
                )
            events = np.argwhere(raster).tolist()
        net.source(src, walk.size(n), spikes=events)
    if bias_src:
        # Bernoulli p = 1 fires at every tick of any run: a constant current through a synapse.
        net.source(bias_src, 1, bernoulli=1.0, seed=0)
        report.notes.append(
            f"Affine biases enter as weights from source {bias_src!r}, which fires every tick "
            "(exact from tick 1 on; a framework adds them from step 0)"
        )


def _add_layers(net, pops, layers, projs, names, report):
    """Quantize each population with its incoming projections and add them to ``net``."""
    quant = {}
    for n, pop in pops.items():
        spec = layers[n]
        q = quant[n] = quantize_layer(spec, [p for p in projs if p.post == n])
        net.population(pop, spec.size, **q.params, reset=spec.reset)
        report.layers.append(
            dict(
                population=pop,
                kind=spec.kind,
                scale=q.scale,
                theta_err=q.theta_err,
                tau=q.tau_note,
                rate_effect=q.rate_effect,
                **q.params,
            )
        )
    for n, pop in pops.items():
        incoming = [p for p in projs if p.post == n]
        for p, qp in zip(incoming, quant[n].projs, strict=True):
            pairs = np.stack([qp.pre_idx, qp.post_idx, qp.weight], axis=1)
            # The chip delay is one tick plus the Delay nodes' steps (lenient: at most the
            # longest chip delay, reported by _check above).
            net.connect(
                names[p.pre],
                pop,
                connectivity="explicit",
                pairs=pairs,
                weight_exp=qp.exp,
                delay=min(1 + p.extra_delay, CHIP_MAX_DELAY),
            )
            report.projections.append(
                dict(
                    pre=names[p.pre],
                    post=pop,
                    exp=qp.exp,
                    synapses=int(qp.weight.size),
                    clipped=qp.clipped,
                    zeroed=qp.zeroed,
                    max_rel=qp.max_rel,
                    mean_rel=qp.mean_rel,
                )
            )


def to_nir(network: Network, *, dt=1e-3):
    """The network as a ``nir.NIRGraph`` (see nir_export.py)."""
    from .nir_export import network_to_nir

    return network_to_nir(network, dt=dt)


def write_nir(network: Network, path, *, dt=1e-3):
    """Write the network as a ``.nir`` file (HDF5) that ``nir.read`` accepts."""
    nir = _nir()
    nir.write(str(path), to_nir(network, dt=dt))
