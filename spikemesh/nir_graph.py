"""Reading a NIR graph into the importer's terms: nodes flattened, sizes known, drives traced.

:func:`load_graph` opens a ``.nir`` file (or takes a ``nir.NIRGraph``) and inlines
nested graphs; :class:`Walker` gives every node its flat size and, for every neuron
node and Output, the sum of linear paths that drives it: ``{(source, extra_delay):
matrix}`` plus a constant (Affine biases), where a source is an Input or a neuron node.
A cycle that passes through no neuron node is refused: it has no state to break it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .nir_quant import NIRError

NEURONS = ("LIF", "CubaLIF", "IF")
TRANSFORMS = ("Affine", "Linear", "Scale", "Flatten", "Delay")
SUPPORTED = ("Input", "Output", *TRANSFORMS, *NEURONS)
_IDENTITY = "identity"  # an inlined subgraph's own Input/Output nodes


def _nir():
    try:
        import nir
    except ImportError:
        raise NIRError(
            "NIR import/export needs the 'nir' package: pip install nir (or spikemesh[dev])"
        ) from None
    return nir


def load_graph(source):
    """A ``nir.NIRGraph`` from a path or a graph; broken files give a NIRError."""
    nir = _nir()
    if isinstance(source, nir.NIRGraph):
        return source
    path = Path(source)
    if not path.is_file():
        raise NIRError(f"{path}: no such NIR file")
    try:
        # nir's own type check rejects the batch dimension Norse writes into Input shapes
        # ([1, n] into a Linear of n); the Walker checks flat sizes on every edge instead.
        return nir.read(path, type_check=False)
    except Exception as e:  # h5py/nir raise OSError, KeyError, ValueError, AssertionError...
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise NIRError(
            f"{path}: not a readable NIR file (corrupt, truncated or not NIR): {detail}"
        ) from None


def _arr(x):
    """A parameter as a float64 numpy array (Norse writes torch tensors)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _finite(kind, name, pname, values):
    """A node parameter as an array, refused when it holds NaN or infinity."""
    a = _arr(values)
    if not np.all(np.isfinite(a)):
        raise NIRError(f"{kind} {name!r}: {pname} has non-finite values (NaN or infinity)")
    return a


def _composed(kind, name, terms, const):
    """The maps a transform node composes, refused when they overflow float64."""
    if not (np.all(np.isfinite(const)) and all(np.all(np.isfinite(m)) for m in terms.values())):
        raise NIRError(
            f"{kind} {name!r}: the weights composed up to this node overflow (values beyond "
            f"{np.finfo(np.float64).max:.3g})"
        )
    return terms, const


def node_type(node) -> str:
    return type(node).__name__


def flatten(graph, prefix=""):
    """(nodes, edges) of ``graph`` with nested NIRGraph nodes inlined as ``outer.inner``.

    An inner graph's Input/Output nodes become identity nodes, so edges into and out of
    the subgraph pass through them. Top-level Input/Output keep their meaning.
    """
    nodes, edges = {}, []
    ends = {}  # subgraph name -> (its input node, its output node)
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if node_type(node) == "NIRGraph":
            inner_nodes, inner_edges = flatten(node, f"{full}.")
            ins = [n for n, v in node.nodes.items() if node_type(v) == "Input"]
            outs = [n for n, v in node.nodes.items() if node_type(v) == "Output"]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRError(
                    f"subgraph {full!r} has {len(ins)} Input and {len(outs)} Output nodes; "
                    "an inlined subgraph needs exactly one of each"
                )
            for k in (f"{full}.{ins[0]}", f"{full}.{outs[0]}"):
                inner_nodes[k] = (_IDENTITY, inner_nodes[k][1])
            ends[full] = (f"{full}.{ins[0]}", f"{full}.{outs[0]}")
            nodes.update(inner_nodes)
            edges += inner_edges
        else:
            nodes[full] = (node_type(node), node)
    for a, b in graph.edges:
        a, b = f"{prefix}{a}", f"{prefix}{b}"
        a = ends[a][1] if a in ends else a
        b = ends[b][0] if b in ends else b
        for end in (a, b):
            if end not in nodes:
                raise NIRError(f"edge {a!r} -> {b!r} names {end!r}, which is not a node")
        edges.append((a, b))
    return nodes, edges


def _shape_size(shape):
    if shape is None:
        return None
    shape = np.asarray(shape).ravel()
    return int(np.prod(shape)) if shape.size else None


class Walker:
    """Sizes and drives of a flattened graph (see module doc)."""

    def __init__(self, nodes, edges, dt):
        self.nodes, self.dt = nodes, dt
        self.preds = {n: [] for n in nodes}
        for a, b in edges:
            self.preds[b].append(a)
        for name, (kind, _) in nodes.items():
            if kind not in SUPPORTED and kind != _IDENTITY:
                raise NIRError(
                    f"node {name!r} is a {kind}, which the chip cannot run; supported "
                    f"node types: {', '.join(SUPPORTED)} (and nested graphs of them)"
                )
        self._size, self._drive, self._busy, self._sizing = {}, {}, set(), set()

    def is_source(self, name) -> bool:
        return self.nodes[name][0] in ("Input", *NEURONS)

    # --- sizes ---
    def _param_size(self, name):
        kind, node = self.nodes[name]
        if kind == "Input":
            return _shape_size(node.input_type.get("input"))
        if kind in ("Affine", "Linear"):
            return int(_arr(node.weight).shape[-2])
        probe = {"Scale": "scale", "Delay": "delay", "LIF": "v_threshold", "IF": "v_threshold"}
        probe["CubaLIF"] = "v_threshold"
        if kind in probe:
            a = _arr(getattr(node, probe[kind]))
            return a.size if a.ndim else None
        return None

    def size(self, name) -> int:
        """Flat number of values a node outputs."""
        if name in self._size:
            return self._size[name]
        n = self._param_size(name)
        if n is None:
            if name in self._sizing:
                raise NIRError(f"cannot infer the size of node {name!r}: it depends on itself")
            self._sizing.add(name)
            try:
                sizes = {self.size(p) for p in self.preds[name]}
            finally:
                self._sizing.discard(name)
            if len(sizes) != 1:
                raise NIRError(
                    f"cannot infer the size of node {name!r} ({self.nodes[name][0]}): "
                    + ("it has no input" if not sizes else f"its inputs have sizes {sorted(sizes)}")
                )
            n = sizes.pop()
        self._size[name] = n
        return n

    def in_size(self, name) -> int:
        kind, node = self.nodes[name]
        if kind in ("Affine", "Linear"):
            w = _arr(node.weight)
            if w.ndim != 2:
                raise NIRError(f"{kind} {name!r}: weight must be 2-D [out, in], not {w.shape}")
            return int(w.shape[1])
        if kind == "Flatten":
            sizes = {self.size(p) for p in self.preds[name]}
            return sizes.pop() if len(sizes) == 1 else self.size(name)
        return self.size(name)

    # --- drives ---
    def drive(self, name):
        """({(source, extra_delay): matrix [size(name) or in_size, n_source]}, const vector)
        summed over ``name``'s predecessors, before ``name``'s own transform."""
        n_in = self.in_size(name)
        terms, const = {}, np.zeros(n_in)
        for p in self.preds[name]:
            n_p = self.size(p)
            if n_p != n_in:
                raise NIRError(
                    f"shapes do not match: edge {p!r} -> {name!r} carries {n_p} values, "
                    f"{self.nodes[name][0]} {name!r} takes {n_in}"
                )
            if self.is_source(p):
                sub, c = {(p, 0): np.eye(n_p)}, np.zeros(n_p)
            else:
                sub, c = self.output(p)
            for key, m in sub.items():
                terms[key] = terms[key] + m if key in terms else m
            const = const + c
        return terms, const

    def output(self, name):
        """The linear map from sources to a transform node's output (memoized)."""
        if name in self._drive:
            return self._drive[name]
        if name in self._busy:
            raise NIRError(
                f"the graph has a cycle through non-neuron nodes only (at {name!r}); every "
                "cycle must pass through a neuron node (LIF, CubaLIF, IF), which holds state"
            )
        self._busy.add(name)
        try:
            terms, const = self.drive(name)
            result = self._apply(name, terms, const)
        finally:
            self._busy.discard(name)
        self._drive[name] = result
        return result

    def _apply(self, name, terms, const):
        kind, node = self.nodes[name]
        if kind in ("Flatten", "Output", _IDENTITY):
            return terms, const
        if kind in ("Affine", "Linear"):
            w = _finite(kind, name, "weight", node.weight)
            with np.errstate(over="ignore", invalid="ignore"):
                out = {k: w @ m for k, m in terms.items()}
                c = w @ const
            if kind == "Affine":
                b = _finite(kind, name, "bias", node.bias)
                if b.size not in (1, w.shape[0]):
                    raise NIRError(
                        f"Affine {name!r}: bias has {b.size} values, weight has {w.shape[0]} rows"
                    )
                with np.errstate(over="ignore", invalid="ignore"):
                    c = c + np.broadcast_to(b.ravel(), (w.shape[0],))
            return _composed(kind, name, out, c)
        if kind == "Scale":
            s = _finite(kind, name, "scale", node.scale)
            s = np.broadcast_to(s.ravel(), (self.size(name),))
            with np.errstate(over="ignore", invalid="ignore"):
                return _composed(
                    kind, name, {k: s[:, None] * m for k, m in terms.items()}, s * const
                )
        # Delay: element i is delayed by delay[i] / dt steps.
        steps = self.delay_steps(name)
        out = {}
        for (src, d), m in terms.items():
            for s in np.unique(steps):
                mask = (steps == s)[:, None]
                key = (src, d + int(s))
                out[key] = out.get(key, 0) + np.where(mask, m, 0.0)
        return out, const

    def delay_steps(self, name):
        delay = np.broadcast_to(_arr(self.nodes[name][1].delay).ravel(), (self.size(name),))
        steps = delay / self.dt
        whole = np.rint(steps)
        if np.any(delay < 0) or not np.allclose(steps, whole, rtol=0, atol=1e-6):
            bad = steps[np.argmax(np.abs(steps - whole))]
            raise NIRError(
                f"Delay {name!r}: a delay of {bad:g} time steps (dt = {self.dt:g} s) is not a "
                "whole, non-negative number of ticks"
            )
        return whole.astype(np.int64)
