"""Fuzz targets: network YAML (spikemesh/netfile.py) and the Python API (spikemesh/network.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from spikemesh.netfile import dump_network, load_network
from spikemesh.network import Network

from .harness import Target, expect_clean
from .strategies import alias_documents, dump, hostile_values, mutated_network, names, network_text


def check_document(doc):
    """A mutated network document, through YAML text; a network that loads must round-trip."""
    net = expect_clean(load_network, dump(doc))
    if isinstance(net, Network) and net.num_synapses <= 300:
        again = load_network(dump_network(net))
        assert again.num_synapses == net.num_synapses
        assert np.array_equal(again.synapse_arrays()[2], net.synapse_arrays()[2])
    return net


def check_text(text):
    return expect_clean(load_network, text)


_POP_KW = ["du", "dv", "vth", "bias_mant", "bias_exp", "refractory", "u0", "v0", "record"]
_SRC_KW = ["spikes", "bernoulli", "poisson", "seed"]
_CONN_KW = ["connectivity", "weight", "weight_exp", "seed", "pairs", "fanout", "p", "allow_self"]
api_values = st.one_of(
    hostile_values(),
    st.builds(np.array, st.lists(st.integers(-300, 300), max_size=6)),
    st.builds(lambda v: np.full((2, 2), v), st.integers(-3, 3)),
    st.sampled_from([np.int64(3), np.float32(0.5), np.bool_(True), np.nan, object()]),
)


@st.composite
def api_calls(draw):
    """A sequence of Network.population / .source / .connect calls with hostile arguments."""
    calls = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["population", "source", "connect"]))
        keys = {"population": _POP_KW, "source": _SRC_KW, "connect": _CONN_KW}[kind]
        kw = draw(st.dictionaries(st.sampled_from(keys), api_values, max_size=4))
        if kind == "connect":
            args = (draw(st.one_of(names, api_values)), draw(st.one_of(names, api_values)))
        else:
            args = (
                draw(st.one_of(names, api_values)),
                draw(st.one_of(st.integers(-2, 40), api_values)),
            )
        calls.append((kind, args, kw))
    return calls


def check_api(calls):
    net = Network("fuzz")
    return [expect_clean(getattr(net, kind), *args, **kw) for kind, args, kw in calls][-1]


TARGETS = [
    # A mutated size can make a valid network of millions of synapses that takes seconds to
    # build: the limits are generous, a hang is still caught.
    Target(
        "network-yaml",
        mutated_network(),
        check_document,
        ci_examples=150,
        timeout=60,
        deadline_ms=60_000,
    ),
    Target(
        "network-text",
        st.one_of(network_text(), alias_documents, st.text(max_size=200)),
        check_text,
        ci_examples=150,
        timeout=60,
        deadline_ms=60_000,
    ),
    Target("network-api", api_calls(), check_api, ci_examples=150, timeout=60, deadline_ms=60_000),
]
