"""A network as a NIR graph, and back exactly (docs/nir.md, "Export").

Every population becomes an IF (du = 4095, dv = 0), LIF (du = 4095) or CubaLIF node,
every projection a Linear node, every source an Input node, and each population an
Output node. The floats follow the spec flavor with chip v / 64 as the voltage unit:
threshold = vth, a weight = w << e, keep factors exp(-dt / tau), gains r (1 - beta) = 1
and w_in (1 - alpha) = 1, the bias as v_leak = bias / 64 / (1 - beta).

NIR has no place for a refractory period, initial state, recorded flags, input spikes
or duplicate synapses, so the exact integers also go into each node's metadata
(``spikemesh_*`` keys); :func:`exact_network` rebuilds the network from them when the
floats still agree with them (a file edited by another tool is quantized instead).
"""

from __future__ import annotations

import math

import numpy as np

from .network import Network
from .nir_graph import _arr, _nir

VERSION = 1
_PARAMS = ("du", "dv", "vth", "bias_mant", "bias_exp", "refractory")
_FOREVER = 2.0**40  # tau / dt for a perfect integrator (dv = 0): NIR has no infinite tau


def _tau(keep, dt):
    return dt * _FOREVER if keep >= 1 else -dt / math.log(keep)


def _neuron_node(pop):
    p = pop.params
    n = pop.size
    ones = np.ones(n)
    alpha = (4095 - p.du) / 4096
    beta = (4096 - p.dv) / 4096
    bias = (p.bias_mant << p.bias_exp) / 64
    thr = p.vth * ones
    zero = np.zeros(n)
    return alpha, beta, bias, thr, zero, ones


def _population_node(nir, pop, dt):
    alpha, beta, bias, thr, zero, ones = _neuron_node(pop)
    p = pop.params
    if p.du == 4095 and p.dv == 0:
        return nir.IF(r=ones / dt, v_threshold=thr, v_reset=zero)
    tau_m = _tau(beta, dt)
    r = 1 / (1 - math.exp(-dt / tau_m))
    v_leak = bias * r * ones
    if p.du == 4095:
        return nir.LIF(tau=tau_m * ones, r=r * ones, v_leak=v_leak, v_threshold=thr, v_reset=zero)
    return nir.CubaLIF(
        tau_syn=_tau(alpha, dt) * ones,
        tau_mem=tau_m * ones,
        r=r * ones,
        v_leak=v_leak,
        v_threshold=thr,
        v_reset=zero,
        w_in=ones / (1 - alpha),
    )


def _state(values):
    v = np.asarray(values, dtype=np.int64)
    return np.int64(v[0]) if v.size and np.all(v == v[0]) else v


def network_to_nir(net: Network, *, dt=1e-3):
    """See the module doc; ``dt`` (seconds) is written to the graph's metadata."""
    nir = _nir()
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        from .nir_quant import NIRError

        raise NIRError(f"dt must be a positive number of seconds, not {dt!r}")
    nodes, edges = {}, []
    for i, src in enumerate(net.sources):
        meta = {"spikemesh_index": i, "spikemesh_kind": src.kind}
        if src.kind == "spikes":
            meta["spikemesh_events"] = src.events.ravel().astype(np.int64)
        else:
            meta["spikemesh_rate"] = float(src.rate)
            meta["spikemesh_seed"] = int(src.seed)
        nodes[src.name] = nir.Input(input_type={"input": np.array([src.size])}, metadata=meta)
    for i, pop in enumerate(net.populations):
        node = _population_node(nir, pop, dt)
        node.metadata = {
            "spikemesh_index": i,
            **{f"spikemesh_{k}": int(getattr(pop.params, k)) for k in _PARAMS},
            "spikemesh_reset": pop.params.reset,
            "spikemesh_u0": _state(pop.u0),
            "spikemesh_v0": _state(pop.v0),
            "spikemesh_record": int(pop.record),
        }
        nodes[pop.name] = node
        nodes[f"out:{pop.name}"] = nir.Output(output_type={"output": np.array([pop.size])})
        edges.append((pop.name, f"out:{pop.name}"))
    for i, proj in enumerate(net.projections):
        pre, post = net[proj.pre], net[proj.post]
        w = np.zeros((post.size, pre.size))
        np.add.at(w, (proj.post_idx, proj.pre_idx), proj.weight.astype(np.float64))
        name = f"proj{i}:{proj.pre}:{proj.post}"
        src = proj.pre
        if proj.delay > 1:  # the chip's delay d is one tick plus a Delay node of d - 1 steps
            src = f"delay{i}:{proj.pre}:{proj.post}"
            nodes[src] = nir.Delay(delay=np.full(pre.size, (proj.delay - 1) * float(dt)))
            edges.append((proj.pre, src))
        nodes[name] = nir.Linear(
            weight=w * (1 << proj.weight_exp),
            metadata={
                "spikemesh_index": i,
                "spikemesh_pre_idx": proj.pre_idx.astype(np.int64),
                "spikemesh_post_idx": proj.post_idx.astype(np.int64),
                "spikemesh_weight": proj.weight.astype(np.int64),
                "spikemesh_weight_exp": int(proj.weight_exp),
                "spikemesh_delay": int(proj.delay),
            },
        )
        edges += [(src, name), (name, proj.post)]
    meta = {"dt": float(dt), "spikemesh_version": VERSION, "spikemesh_name": net.name}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _meta(node):
    return getattr(node, "metadata", None) or {}


def _int(x):
    return int(np.asarray(x))


def _ints(x):
    return np.atleast_1d(np.asarray(x, dtype=np.int64))


def exact_network(graph, name, inputs=None):
    """The network written by :func:`network_to_nir`, or None if the graph is not one
    (no spikemesh metadata) or its floats were changed since. ``inputs`` (name -> bool
    raster) replaces those sources' spikes."""
    gmeta = _meta(graph)
    if "spikemesh_version" not in gmeta:
        return None
    try:
        return _rebuild(graph, gmeta, name, inputs or {})
    except (KeyError, ValueError, TypeError, IndexError):
        return None


def _ordered(graph, types):
    items = [
        (n, v)
        for n, v in graph.nodes.items()
        if type(v).__name__ in types and "spikemesh_index" in _meta(v)
    ]
    return sorted(items, key=lambda nv: _int(_meta(nv[1])["spikemesh_index"]))


def _rebuild(graph, gmeta, name, inputs):
    nir = _nir()
    dt = float(np.asarray(gmeta["dt"]))
    net = Network(str(gmeta.get("spikemesh_name", name)))
    for n, node in _ordered(graph, ("Input",)):
        m = _meta(node)
        size = int(np.prod(node.input_type["input"]))
        kind = str(m["spikemesh_kind"])
        if n in inputs:
            raster = np.asarray(inputs[n], dtype=bool).reshape(len(inputs[n]), -1)
            if raster.shape[1] != size:
                return None  # the general path reports the mismatch
            net.source(n, size, spikes=np.argwhere(raster).tolist())
        elif kind == "spikes":
            ev = _ints(m.get("spikemesh_events", np.zeros(0))).reshape(-1, 2)
            net.source(n, size, spikes=ev.tolist())
        else:
            net.source(
                n, size, **{kind: float(m["spikemesh_rate"])}, seed=_int(m["spikemesh_seed"])
            )
    for n, node in _ordered(graph, ("LIF", "CubaLIF", "IF")):
        m = _meta(node)
        size = _arr(node.v_threshold).size
        params = {k: _int(m[f"spikemesh_{k}"]) for k in _PARAMS}
        params["reset"] = str(m.get("spikemesh_reset", "zero"))  # files before reset modes
        u0, v0 = (_ints(m[f"spikemesh_{k}"]) for k in ("u0", "v0"))
        pop = net.population(
            n,
            size,
            **params,
            u0=u0 if u0.size > 1 else int(u0[0]),
            v0=v0 if v0.size > 1 else int(v0[0]),
            record=bool(_int(m["spikemesh_record"])),
        )
        ref = _population_node(nir, pop, dt)
        for k in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "w_in"):
            if hasattr(ref, k) and not np.allclose(_arr(getattr(node, k)), _arr(getattr(ref, k))):
                return None
        if type(ref) is not type(node):
            return None
    pred = {b: a for a, b in graph.edges}
    succ = dict(graph.edges)
    for n, node in _ordered(graph, ("Linear",)):
        m = _meta(node)
        pi, po = _ints(m["spikemesh_pre_idx"]), _ints(m["spikemesh_post_idx"])
        w, e = _ints(m["spikemesh_weight"]), _int(m["spikemesh_weight_exp"])
        d = _int(m.get("spikemesh_delay", 1))  # files before delays: 1
        pre, post = pred[n], succ[n]
        if type(graph.nodes[pre]).__name__ == "Delay":  # the delay's d - 1 steps
            steps = _arr(graph.nodes[pre].delay) / dt
            if not np.allclose(steps, d - 1, rtol=0, atol=1e-6):
                return None
            pre = pred[pre]
        elif d != 1:
            return None
        dense = np.zeros_like(_arr(node.weight))
        np.add.at(dense, (po, pi), w.astype(np.float64) * (1 << e))
        if not np.array_equal(dense, _arr(node.weight)):
            return None
        net.connect(
            pre,
            post,
            connectivity="explicit",
            pairs=np.stack([pi, po, w], axis=1),
            weight_exp=e,
            delay=d,
        )
    return net
