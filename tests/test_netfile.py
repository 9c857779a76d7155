"""The YAML network form: loading, key-path/line errors, and the dump round trip."""

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from spikemesh.errors import NetworkError
from spikemesh.golden import run_golden
from spikemesh.netfile import dump_network, load_network
from spikemesh.network import Network

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DOCS = Path(__file__).resolve().parent.parent / "docs"

FULL = """\
name: full
populations:
  - name: a
    size: 5
    du: 100
    dv: 200
    vth: 50
    bias_mant: -7
    bias_exp: 3
    refractory: 2
    u0: [1, -2, 3, -4, 5]
    v0: {uniform: [-100, 100], seed: 4}
    record: true
  - {name: b, size: 3, vth: 0}
sources:
  - {name: ev, size: 2, spikes: [[0, 1], [3, 0]]}
  - {name: evmap, size: 3, spikes: {1: [0, 2], 4: 1}}
  - {name: bern, size: 4, bernoulli: 0.25, seed: 8}
  - {name: pois, size: 3, poisson: 0.5, seed: 9}
projections:
  - {pre: ev, post: a, connectivity: all_to_all, weight: 100, weight_exp: 5}
  - {pre: evmap, post: b, connectivity: explicit, pairs: [[0, 0], [2, 1]], weight: [7, -7]}
  - {pre: bern, post: a, connectivity: fixed_fanout, fanout: 2, seed: 1,
     weight: {uniform: [-10, 90]}}
  - {pre: a, post: a, connectivity: fixed_probability, p: 0.5, seed: 2, allow_self: true,
     weight: -20, weight_exp: 1}
  - {pre: a, post: b, connectivity: explicit, pairs: [[0, 0, 5], [4, 2, -128]]}
  - {pre: pois, post: b, connectivity: one_to_one, weight: 3}
"""


def err(text):
    with pytest.raises(NetworkError) as info:
        load_network(textwrap.dedent(text))
    return str(info.value)


def same_network(a: Network, b: Network):
    for x, y in zip(a.synapse_arrays(), b.synapse_arrays(), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.neuron_params(), b.neuron_params())
    for x, y in zip(a.initial_state(), b.initial_state(), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.input_raster(50), b.input_raster(50))
    np.testing.assert_array_equal(a.recorded(), b.recorded())
    assert [p.name for p in a.populations] == [p.name for p in b.populations]
    assert [s.name for s in a.sources] == [s.name for s in b.sources]


# --- loading ------------------------------------------------------------------------------


def test_load_matches_the_python_api():
    net = load_network(FULL)
    api = Network("full")
    api.population(
        "a",
        5,
        du=100,
        dv=200,
        vth=50,
        bias_mant=-7,
        bias_exp=3,
        refractory=2,
        u0=[1, -2, 3, -4, 5],
        v0={"uniform": [-100, 100], "seed": 4},
        record=True,
    )
    api.population("b", 3, vth=0)
    api.source("ev", 2, spikes=[(0, 1), (3, 0)])
    api.source("evmap", 3, spikes={1: [0, 2], 4: 1})
    api.source("bern", 4, bernoulli=0.25, seed=8)
    api.source("pois", 3, poisson=0.5, seed=9)
    api.connect("ev", "a", connectivity="all_to_all", weight=100, weight_exp=5)
    api.connect("evmap", "b", connectivity="explicit", pairs=[(0, 0), (2, 1)], weight=[7, -7])
    api.connect(
        "bern", "a", connectivity="fixed_fanout", fanout=2, seed=1, weight={"uniform": [-10, 90]}
    )
    api.connect(
        "a",
        "a",
        connectivity="fixed_probability",
        p=0.5,
        seed=2,
        allow_self=True,
        weight=-20,
        weight_exp=1,
    )
    api.connect("a", "b", connectivity="explicit", pairs=[(0, 0, 5), (4, 2, -128)])
    api.connect("pois", "b", connectivity="one_to_one", weight=3)  # fmt: skip
    assert net.name == "full"
    same_network(net, api)


def test_load_from_path_and_string_path(tmp_path):
    p = tmp_path / "my-net.yaml"
    p.write_text(FULL.replace("name: full\n", ""))
    a = load_network(p)
    b = load_network(str(p))
    assert a.name == b.name == "my-net"  # the file's stem when there is no name
    same_network(a, b)


def test_default_connectivity_is_all_to_all():
    net = load_network("populations: [{name: a, size: 3}, {name: b, size: 2}]\n"
                       "projections: [{pre: a, post: b, weight: 1}]\n")  # fmt: skip
    assert len(net.projections[0]) == 6


def test_empty_lists_and_null_sections():
    net = load_network("name: n\npopulations: [{name: a, size: 1}]\nsources:\nprojections: []\n")
    assert net.num_sources == 0
    assert net.num_synapses == 0


# --- errors with key paths and lines -------------------------------------------------------


def test_weight_out_of_range_names_path_and_line(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_text(
        "populations:\n"
        "  - {name: a, size: 3}\n"
        "projections:\n"
        "  - pre: a\n"
        "    post: a\n"
        "    connectivity: all_to_all\n"
        "    weight: [1, 2, 3, 4, 5, 300]\n"
    )
    with pytest.raises(NetworkError) as info:
        load_network(p)
    assert str(info.value) == (
        f"{p}: projections[0].weight (line 7): weight[5] = 300 is outside -128..127"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("popluations: []\n",
         "<network>: popluations (line 1): unknown key(s) popluations in the network; known keys "
         "are name, populations, sources, projections"),
        ("populations:\n  - name: a\n    size: 3\n    thresh: 4\n",
         "<network>: populations[0].thresh (line 4): unknown key(s) thresh in a population; "
         "known keys are name, size, du, dv, vth, bias_mant, bias_exp, refractory, reset, u0, "
         "v0, record"),
        ("populations: [{name: a, size: 1}]\nsources: [{name: s, size: 1, rate: 3}]\n",
         "<network>: sources[0].rate (line 2): unknown key(s) rate in a source; known keys are "
         "name, size, spikes, bernoulli, poisson, seed"),
        ("populations: [{name: a, size: 1}]\nprojections: [{pre: a, post: a, delays: 2}]\n",
         "<network>: projections[0].delays (line 2): unknown key(s) delays in a projection; "
         "known keys are pre, post, connectivity, pairs, fanout, p, seed, weight, weight_exp, "
         "delay, allow_self, plasticity"),
        ("populations:\n  - name: a\n",
         "<network>: populations[0] (line 2): a population needs a 'size' key"),
        ("populations: [{name: a, size: 1}]\nprojections:\n  - {post: a}\n",
         "<network>: projections[0] (line 3): a projection needs a 'pre' key"),
        ("populations: {name: a}\n",
         "<network>: populations (line 1): must be a list, not dict"),
        ("populations:\n  - [a, 3]\n",
         "<network>: populations[0] (line 2): a population must be a mapping, not list"),
        ("- a\n- b\n", "<network> (line 1): the network must be a mapping, not list"),
        ("", "<network>: the file is empty; a network needs at least 'populations'"),
        ("name: a b\npopulations: []\n",
         "<network>: name (line 1): Network name must be a non-empty string of letters, digits, "
         "'_', '-', '.', not 'a b'"),
        ("populations:\n  - name: a\n    size: 3\n    size: 4\n",
         "<network>: populations[0] (line 4): duplicate key 'size'"),
        ("populations:\n  - {name: a, size: 3, vth: 200000}\n",
         "<network>: populations[0].vth (line 2): neuron parameter vth must be between 0 and "
         "131,071, not 200,000"),
        ("populations:\n  - {name: a, size: 3, reset: substract}\n",
         "<network>: populations[0].reset (line 2): neuron parameter reset must be one "
         "of zero, subtract, not 'substract'"),
        ("populations:\n  - {name: a, size: 3, reset: 1}\n",
         "<network>: populations[0].reset (line 2): neuron parameter reset must be one "
         "of zero, subtract, not 1"),
        ("populations:\n  - name: a\n    size: 3\n    v0: [1, 2]\n",
         "<network>: populations[0].v0 (line 4): v0 must have 3 entries, not 2 (shape (2,))"),
        ("populations:\n  - name: a\n    size: 0\n",
         "<network>: populations[0].size (line 3): size must be between 1 and 16,777,216, not 0"),
        ("populations:\n  - {name: a, size: 2}\n  - {name: a, size: 2}\n",
         "<network>: populations[1].name (line 3): name 'a' is already used by a population"),
        ("populations:\n  - {name: a, size: 2, record: yes please}\n",
         "<network>: populations[0].record (line 2): record must be true or false, "
         "not 'yes please'"),
        ("populations: [{name: a, size: 2}]\nsources:\n  - name: s\n    size: 2\n"
         "    spikes: [[0, 5]]\n",
         "<network>: sources[0].spikes (line 5): spikes[0]: index 5 is outside 0..1"),
        ("populations: [{name: a, size: 2}]\nsources:\n  - {name: s, size: 2, bernoulli: 2,"
         " seed: 1}\n",
         "<network>: sources[0].bernoulli (line 3): bernoulli probability must be within 0..1, "
         "not 2.0"),
        ("populations: [{name: a, size: 2}]\nsources:\n  - {name: s, size: 2, poisson: 0.1}\n",
         "<network>: sources[0] (line 3): a poisson source needs a seed"),
        ("populations: [{name: a, size: 2}]\nsources:\n  - {name: s, size: 2}\n",
         "<network>: sources[0] (line 3): needs exactly one of spikes, bernoulli, poisson; "
         "got none"),
        ("populations: [{name: a, size: 2}]\nprojections:\n  - pre: a\n    post: b\n",
         "<network>: projections[0].post (line 4): no population or source named 'b'"),
        ("populations: [{name: a, size: 2}]\nprojections:\n  - {pre: a, post: a, "
         "connectivity: ring}\n",
         "<network>: projections[0].connectivity (line 3): unknown connectivity 'ring'; known: "
         "explicit, one_to_one, all_to_all, fixed_fanout, fixed_probability"),
        ("populations: [{name: a, size: 2}]\nprojections:\n  - {pre: a, post: a, fanout: 1}\n",
         "<network>: projections[0].fanout (line 3): 'fanout' is not used by all_to_all "
         "connectivity (only by fixed_fanout)"),
        ("populations: [{name: a, size: 2}]\nprojections:\n  - {pre: a, post: a, "
         "connectivity: explicit, pairs: [[0, 1]], allow_self: true}\n",
         "<network>: projections[0].allow_self (line 3): 'allow_self' is not used by explicit "
         "connectivity (only by all_to_all, fixed_fanout, fixed_probability)"),
        ("populations: [{name: a, size: 2}]\nprojections:\n  - pre: a\n    post: a\n"
         "    connectivity: explicit\n    pairs:\n      - [0, 1]\n      - [0, 2]\n",
         "<network>: projections[0].pairs (line 7): pairs[1] post index must be between 0 and 1, "
         "not 2"),
        ("populations: [{name: a, size: 2}]\nprojections:\n  - pre: a\n    post: a\n"
         "    connectivity: fixed_fanout\n    fanout: 1\n",
         "<network>: projections[0].seed (line 3): fixed_fanout needs a seed"),
        ("populations: [{name: a, size: 4}]\nprojections:\n  - pre: a\n    post: a\n"
         "    connectivity: fixed_fanout\n    fanout: 9\n    seed: 1\n",
         "<network>: projections[0].fanout (line 6): fanout must be between 0 and 3, not 9"),
        ("populations: [{name: a, size: 2}]\nprojections:\n  - pre: a\n    post: a\n"
         "    weight_exp: 8\n",
         "<network>: projections[0].weight_exp (line 5): weight_exp must be between 0 and 7, "
         "not 8"),
        ("populations: [{name: a, size: 2}]\nprojections:\n  - pre: a\n    post: a\n"
         "    weight: {uniform: [0, 10]}\n",
         "<network>: projections[0].weight (line 5): weight: a random range needs a seed"),
    ],
)  # fmt: skip
def test_load_errors(text, message):
    assert err(text) == message


def test_yaml_syntax_error_names_the_line():
    # The problem text comes from the YAML parser (libyaml or PyYAML); the line from us.
    assert err("populations:\n  - {name: a, size: 3}\n  - {name: b\n").startswith(
        "<network> (line 4): not valid YAML: "
    )
    assert err("a: 1\nb: [2\n").startswith("<network> (line 3): not valid YAML: ")


def test_missing_file_and_wrong_type(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(NetworkError, match=r"^network file .*missing\.yaml does not exist$"):
        load_network(missing)
    with pytest.raises(NetworkError, match=r"^network file .*missing\.yaml does not exist$"):
        load_network(str(missing))
    with pytest.raises(NetworkError, match="needs a path or YAML text, not int"):
        load_network(5)


def test_unreadable_and_unsafe_files(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(NetworkError, match=r"^network file .*latin1\.yaml cannot be read: "):
        load_network(p)
    # Only plain YAML: no Python object tags (safe loading), reported with the line.
    assert err("populations:\n  - !!python/object:os.system {}\n").startswith(
        "<network> (line 2): not valid YAML: "
    )


def test_file_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("populations:\n  - {name: a, size: 1, du: -1}\n")
    with pytest.raises(NetworkError) as info:
        load_network(p)
    assert str(info.value) == (
        f"{p}: populations[0].du (line 2): neuron parameter du must be between 0 and 4,095, not -1"
    )


# --- dump / round trip --------------------------------------------------------------------


def test_round_trip_of_every_feature():
    net = load_network(FULL)
    text = dump_network(net)
    again = load_network(text)
    same_network(net, again)
    assert dump_network(again) == text  # a dump is a fixed point
    assert run_golden(net, 30).diff(run_golden(again, 30)) == []


def test_dump_is_explicit_and_compact():
    net = Network("d")
    net.population("a", 3, v0=[1, 2, 3])
    net.population("b", 2, u0=7)
    net.connect("a", "b", weight=4)
    text = dump_network(net)
    assert "v0: [1, 2, 3]" in text
    assert "u0: 7" in text
    assert "connectivity: explicit" in text
    assert "weight: 4" in text
    assert "- [0, 0]" in text


@pytest.mark.parametrize("name", ["synfire.yaml", "ei_random.yaml"])
def test_examples_round_trip(name):
    net = load_network(EXAMPLES / name)
    again = load_network(dump_network(net))
    same_network(net, again)
    assert run_golden(net, 60).diff(run_golden(again, 60)) == []


def test_round_trip_of_the_python_api_with_empty_projection():
    net = Network("e")
    net.population("a", 4)
    net.connect("a", "a", connectivity="fixed_probability", p=0.0, seed=1, weight=5)
    net.source("s", 1, spikes=[])
    again = load_network(dump_network(net))
    same_network(net, again)
    assert again.num_synapses == 0


def test_the_documented_example_loads_and_runs():
    text = (DOCS / "network-format.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    net = load_network(example)
    assert [p.name for p in net.populations] == ["exc", "inh"]
    assert [s.name for s in net.sources] == ["kick", "cue", "noise", "poisson"]
    assert len(net.projections) == 6
    assert run_golden(net, 50).spikes.any()


def test_reset_mode_round_trips_and_zero_is_not_written():
    text = (
        "populations:\n  - {name: a, size: 2, vth: 5, reset: subtract}\n"
        "  - {name: b, size: 1, reset: zero}\n"
    )
    net = load_network(text)
    assert [p.params.reset for p in net.populations] == ["subtract", "zero"]
    assert net.neuron_params()[:, 6].tolist() == [1, 1, 0]
    out = dump_network(net)
    assert out.count("reset") == 1  # zero-reset populations dump as before reset modes
    back = load_network(out)
    np.testing.assert_array_equal(back.neuron_params(), net.neuron_params())


def test_delay_round_trips_and_is_checked():
    from spikemesh.netfile import dump_network, load_network

    text = """
name: d
populations:
  - {name: a, size: 2}
projections:
  - {pre: a, post: a, connectivity: one_to_one, weight: 5, delay: 7}
  - {pre: a, post: a, connectivity: one_to_one, weight: 5}
"""
    net = load_network(text)
    assert [p.delay for p in net.projections] == [7, 1]
    again = dump_network(net)
    assert again.count("delay: 7") == 1 and again.count("delay:") == 1
    assert [p.delay for p in load_network(again).projections] == [7, 1]
    with pytest.raises(NetworkError, match=r"delay must be between 1 and 15, not 16"):
        load_network(text.replace("delay: 7", "delay: 16"))
