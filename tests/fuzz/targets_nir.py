"""Fuzz target: NIR import (spikemesh/nir_io.py): random graphs, shapes, parameters, files.

Graphs are built with the ``nir`` package: a feed-forward or recurrent chain of the
supported nodes with random sizes (often mismatched), parameters drawn from the edges of
float64 (NaN, +-inf, 0, negative, 1e300), unsupported nodes, dangling and duplicated
edges, and random import options. A fraction is written to a ``.nir`` file and damaged
(truncated or bit-flipped) before import.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from hypothesis import strategies as st

from .harness import Target, expect_clean

nir = None


def _nir():
    global nir
    if nir is None:
        import nir as mod

        nir = mod
    return nir


PARAM = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e-3, 5e-3, 2.0, 1e300, -1e300, 1e-300,
                     np.inf, -np.inf, np.nan]),
    st.floats(-10, 10),
)  # fmt: skip
SANE = {
    "tau": st.floats(1e-3, 0.1),
    "tau_syn": st.floats(1e-3, 0.1),
    "tau_mem": st.floats(1e-3, 0.1),
    "r": st.sampled_from([1.0, 0.5, 2.0]),
    "v_leak": st.just(0.0),
    "v_reset": st.just(0.0),
    "v_threshold": st.floats(0.2, 2.0),
    "w_in": st.just(1.0),
    "w": st.floats(-2, 2),
    "delay": st.sampled_from([0.0, 1e-3]),
}
sizes = st.one_of(st.integers(1, 6), st.sampled_from([0, 1, 2, 3]))


@st.composite
def vec(draw, n, key="w"):
    if draw(st.integers(0, 3)):  # mostly a sane value, so that deep paths are reached
        return np.full(n, draw(SANE.get(key, SANE["w"])))
    if draw(st.integers(0, 3)) == 0:  # a scalar or a wrong length
        return np.full(draw(st.integers(0, 3)), draw(PARAM))
    if draw(st.booleans()):
        return np.full(n, draw(PARAM))
    return np.array([draw(PARAM) for _ in range(n)])


@st.composite
def mat(draw, rows, cols):
    if draw(st.integers(0, 5)) == 0:
        rows, cols = draw(sizes), draw(sizes)
    value = PARAM if draw(st.integers(0, 3)) == 0 else SANE["w"]
    return np.array([[draw(value) for _ in range(cols)] for _ in range(rows)]).reshape(rows, cols)


@st.composite
def node(draw, kind, n_in, n):
    m = _nir()
    if kind == "Linear":
        return m.Linear(weight=draw(mat(n, n_in)))
    if kind == "Affine":
        return m.Affine(weight=draw(mat(n, n_in)), bias=draw(vec(n)))
    if kind == "Scale":
        return m.Scale(scale=draw(vec(n_in)))
    if kind == "Delay":
        return m.Delay(delay=draw(vec(n_in, "delay")))
    if kind == "LIF":
        return m.LIF(
            tau=draw(vec(n_in, "tau")),
            r=draw(vec(n_in, "r")),
            v_leak=draw(vec(n_in, "v_leak")),
            v_threshold=draw(vec(n_in, "v_threshold")),
            v_reset=draw(vec(n_in, "v_reset")),
        )
    if kind == "CubaLIF":
        return m.CubaLIF(
            tau_syn=draw(vec(n_in, "tau_syn")),
            tau_mem=draw(vec(n_in, "tau_mem")),
            r=draw(vec(n_in, "r")),
            v_leak=draw(vec(n_in, "v_leak")),
            v_threshold=draw(vec(n_in, "v_threshold")),
            w_in=draw(vec(n_in, "w_in")),
        )
    if kind == "IF":
        return m.IF(r=draw(vec(n_in, "r")), v_threshold=draw(vec(n_in, "v_threshold")))
    if kind == "LI":
        return m.LI(
            tau=draw(vec(n_in, "tau")), r=draw(vec(n_in, "r")), v_leak=draw(vec(n_in, "v_leak"))
        )
    if kind == "Threshold":
        return m.Threshold(threshold=draw(vec(n_in)))
    return m.I(r=draw(vec(n_in, "r")))


@st.composite
def node_fixed(draw, kind, n_in, n):
    m = _nir()
    p = lambda k: np.array([draw(PARAM) for _ in range(k)])
    if kind in ("Linear", "Affine"):
        w = np.array([[draw(PARAM) for _ in range(n_in)] for _ in range(n)]).reshape(n, n_in)
        return m.Linear(weight=w) if kind == "Linear" else m.Affine(weight=w, bias=p(n))
    if kind == "LIF":
        return m.LIF(tau=p(n_in), r=p(n_in), v_leak=p(n_in), v_threshold=p(n_in), v_reset=p(n_in))
    if kind == "CubaLIF":
        return m.CubaLIF(
            tau_syn=p(n_in),
            tau_mem=p(n_in),
            r=p(n_in),
            v_leak=p(n_in),
            v_threshold=p(n_in),
            w_in=p(n_in),
        )
    if kind == "IF":
        return m.IF(r=p(n_in), v_threshold=p(n_in))
    if kind == "LI":
        return m.LI(tau=p(n_in), r=p(n_in), v_leak=p(n_in))
    return m.Scale(scale=p(n_in))


KINDS = ["Linear", "Affine", "Scale", "Delay", "LIF", "CubaLIF", "IF", "LI", "Threshold", "I"]
WEIGHTS = [10, 4, 2, 2, 8, 5, 5, 1, 1, 1]


@st.composite
def nir_graphs(draw):
    """(graph, options, damage): a NIR graph, import_nir keywords, file damage or None."""
    m = _nir()
    kinds = st.sampled_from([k for k, w in zip(KINDS, WEIGHTS, strict=True) for _ in range(w)])
    n_in = draw(st.integers(1, 5))
    nodes = {"in": m.Input(input_type={"input": np.array([n_in])})}
    edges = []
    prev, width = "in", n_in
    for k in range(draw(st.integers(1, 6))):
        kind = draw(kinds)
        n = draw(sizes) if kind in ("Linear", "Affine") else width
        name = f"{kind.lower()}{k}"
        try:
            nodes[name] = draw(node(kind, width, n))
        except (AssertionError, ValueError, TypeError):
            # nir's constructors check their own parameter shapes: keep the hostile values,
            # at the one shape nir accepts, so that the input still reaches the importer
            nodes[name] = draw(node_fixed(kind, width, n))
        edges.append((prev, name))
        prev, width = name, n
    nodes["out"] = m.Output(output_type={"output": np.array([width])})
    edges.append((prev, "out"))
    names = list(nodes)
    for _ in range(draw(st.integers(0, 3))):  # recurrent, skip, dangling, duplicate edges
        ends = st.sampled_from([*names, *names, *names, "ghost"])
        a, b = draw(ends), draw(ends)
        edges.append((a, b))
    metadata = draw(
        st.one_of(
            st.just({"dt": 1e-3}),
            st.just({"dt": 1e-3}),
            st.just({"dt": 1e-3}),
            st.just({}),
            st.just({"dt": 1e-3}),
            st.fixed_dictionaries({"dt": PARAM}),
            st.fixed_dictionaries({"dt": st.sampled_from(["1ms", None, [1e-3]])}),
        )
    )
    try:
        graph = m.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
    except (AssertionError, ValueError, KeyError, TypeError):
        # nir refuses edges to nodes that do not exist: keep the chain and the loops
        edges = [(a, b) for a, b in edges if a in nodes and b in nodes]
        graph = m.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
    options = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "dt": st.one_of(st.just(1e-3), st.just(1e-3), PARAM, st.sampled_from(["x", -1])),
                "flavor": st.sampled_from(["spec", "spec", "snntorch", "norse", "bogus"]),
                "strict": st.booleans(),
                "reset": st.sampled_from(["zero", "zero", "subtract", "bogus", None]),
            },
        )
    )
    damage = draw(
        st.one_of(
            st.none(),
            st.none(),
            st.tuples(st.sampled_from(["truncate", "flip"]), st.integers(0, 1 << 20)),
        )
    )
    return graph, options, damage


def _write(graph, damage) -> str:
    m = _nir()
    fd, path = tempfile.mkstemp(suffix=".nir")
    os.close(fd)
    try:
        m.write(path, graph)
    except Exception:  # nir's own writer refuses some graphs: import the object instead
        os.unlink(path)
        return None
    with open(path, "rb") as f:
        data = bytearray(f.read())
    op, k = damage
    if op == "truncate":
        data = data[: k % (len(data) + 1)]
    elif data:
        data[k % len(data)] ^= 1 << (k % 8)
    with open(path, "wb") as f:
        f.write(data)
    return path


def check_nir(inp):
    from spikemesh.nir_io import import_nir

    graph, options, damage = inp
    source = graph
    path = _write(graph, damage) if damage is not None else None
    try:
        out = expect_clean(import_nir, path or source, **options)
    finally:
        if path:
            os.unlink(path)
    if isinstance(out, tuple):
        _net, report = out
        assert report.format()
    return out


TARGETS = [Target("nir-import", nir_graphs(), check_nir, ci_examples=80, timeout=30)]
