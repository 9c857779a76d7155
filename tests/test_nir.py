"""NIR import/export (spikemesh/nir_io.py, docs/nir.md): formulas, quantization, round trip, errors.

Graphs are built by hand with the ``nir`` package; the expected integers are computed
by hand from chip.md §3 (u keeps (4095 - du) / 4096, v keeps (4096 - dv) / 4096 per tick).
"""

import argparse
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from spikemesh.cli_nir import add_nir_commands  # noqa: E402
from spikemesh.golden import run_golden  # noqa: E402
from spikemesh.netfile import dump_network, load_network  # noqa: E402
from spikemesh.network import Network  # noqa: E402
from spikemesh.nir_io import NIRError, import_nir, to_nir, write_nir  # noqa: E402
from spikemesh.nir_quant import LayerSpec, ProjSpec, _error, choose_scale  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
A = np.array


def lif(n, tau=0.01, thr=1.0, r=None, v_leak=0.0, v_reset=0.0):
    r = np.full(n, 1.0) if r is None else np.full(n, r)
    return nir.LIF(
        tau=np.full(n, tau),
        r=r,
        v_leak=np.full(n, v_leak),
        v_threshold=np.full(n, thr),
        v_reset=np.full(n, v_reset),
    )


def cuba(n, tau_syn=0.005, tau_mem=0.01, thr=1.0, v_leak=0.0, w_in=1.0):
    return nir.CubaLIF(
        tau_syn=np.full(n, tau_syn),
        tau_mem=np.full(n, tau_mem),
        r=np.ones(n),
        v_leak=np.full(n, v_leak),
        v_threshold=np.full(n, thr),
        w_in=np.full(n, w_in),
    )


def graph(nodes, edges, dt=1e-3):
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={} if dt is None else {"dt": dt})


def ff(neuron, w, n_in=None):
    """Input -> Linear(w) -> neuron -> Output."""
    w = np.asarray(w, dtype=float)
    n_out, n_in = w.shape
    return graph(
        {
            "in": nir.Input(input_type={"input": A([n_in])}),
            "fc": nir.Linear(weight=w),
            "lif": neuron,
            "out": nir.Output(output_type={"output": A([n_out])}),
        },
        [("in", "fc"), ("fc", "lif"), ("lif", "out")],
    )


def pop(net, name):
    return net[name]


# --- mapping formulas, hand-computed ---


def test_spec_lif_decay_is_exponential():
    # beta = exp(-1 ms / 10 ms) = 0.904837; dv = round(4096 (1 - beta)) = round(389.78) = 390
    net, _ = import_nir(ff(lif(2), [[1.0, 0.0], [0.0, 1.0]]))
    p = pop(net, "lif").params
    assert (p.du, p.dv) == (4095, 390)


def test_snntorch_lif_decay_is_euler():
    # beta = 1 - 1e-4 / 1e-3 = 0.9 (snnTorch's default dt 1e-4); dv = round(409.6) = 410
    g = ff(lif(2, tau=1e-3, r=10.0), [[1.0, 0.0], [0.0, 1.0]])
    g.metadata = {}
    net, rep = import_nir(g, flavor="snntorch", reset="zero")
    assert pop(net, "lif").params.dv == 410
    assert rep.dt == 1e-4


def test_cubalif_spec_and_norse_time_constants():
    # spec: alpha = exp(-0.2) = 0.818731, du = round(4095 - 4096 alpha) = round(741.48) = 741
    net, _ = import_nir(ff(cuba(1), [[1.0]]))
    assert (pop(net, "lif").params.du, pop(net, "lif").params.dv) == (741, 390)
    # norse writes tau = dt * tau_real: 5e-6 s at dt 1 ms is 5 ms; alpha = 1 - 0.2 = 0.8,
    # du = round(4095 - 3276.8) = 818; beta = 0.9, dv = 410
    g = ff(cuba(1, tau_syn=5e-6, tau_mem=1e-5), [[1.0]])
    g.metadata = {}
    net, _ = import_nir(g, flavor="norse")
    assert (pop(net, "lif").params.du, pop(net, "lif").params.dv) == (818, 410)


def test_if_is_a_perfect_integrator():
    g = ff(nir.IF(r=np.ones(1), v_threshold=np.ones(1)), [[0.5]])
    p = pop(import_nir(g)[0], "lif").params
    assert (p.du, p.dv) == (4095, 0)


def test_threshold_and_weight_share_one_scale():
    # IF gain r dt = 1: w = 0.25 of a threshold 1, so vth / (w << e) must be 4 whatever k is
    g = ff(nir.IF(r=np.full(1, 1000.0), v_threshold=np.ones(1)), [[0.25]])
    net, rep = import_nir(g)
    p = pop(net, "lif").params
    proj = net.projections[0]
    assert p.vth == 4 * (int(proj.weight[0]) << proj.weight_exp)
    assert rep.layers[0]["theta_err"] == 0 and rep.projections[0]["max_rel"] == 0


def test_v_leak_becomes_the_bias():
    # LIF: v_t = beta v + (1 - beta) v_leak + ...: bias (1 - beta) v_leak, in vth units * 64
    net, rep = import_nir(ff(lif(1, v_leak=0.5, thr=1.0), [[1.0]]))
    p = pop(net, "lif").params
    k = rep.layers[0]["scale"]
    beta = np.exp(-0.1)
    assert p.bias_mant << p.bias_exp == pytest.approx(64 * k * (1 - beta) * 0.5, rel=1e-3)


def test_golden_spikes_of_an_imported_if_neuron():
    # IF, weight 0.4, threshold 1: v = 0.4, 0.8, 1.2 > 1 -> spike on the third input,
    # which arrives one tick after it is sent: inputs at 0, 1, 2 -> spike at tick 3
    g = ff(nir.IF(r=np.full(1, 1000.0), v_threshold=np.ones(1)), [[0.4]])
    raster = np.zeros((8, 1), dtype=bool)
    raster[[0, 1, 2, 4, 5, 6], 0] = True
    net, _ = import_nir(g, inputs={"in": raster})
    spikes = run_golden(net, 8).spikes[:, 0]
    assert np.flatnonzero(spikes).tolist() == [3, 7]


def test_affine_bias_enters_through_an_always_on_source():
    w = np.eye(2)
    g = ff(lif(2), w)
    g.nodes["fc"] = nir.Affine(weight=w, bias=A([0.1, 0.2]))
    net, rep = import_nir(g)
    bias = net["bias"]
    assert bias.kind == "bernoulli" and bias.rate == 1.0 and bias.raster(5).all()
    proj = next(p for p in net.projections if p.pre == "bias")
    assert proj.weight[1] == pytest.approx(2 * proj.weight[0], abs=1)
    assert any("fires every tick" in n for n in rep.notes)


def test_imported_network_round_trips_through_yaml():
    w = np.eye(2)
    g = ff(cuba(2), w)
    g.nodes["fc"] = nir.Affine(weight=w, bias=A([0.1, 0.2]))
    raster = np.zeros((6, 2), dtype=bool)
    raster[[0, 2], [1, 0]] = True
    net, _ = import_nir(g, inputs={"in": raster})
    text = dump_network(net)
    again = load_network(text)
    assert dump_network(again) == text
    assert np.array_equal(run_golden(again, 30).spikes, run_golden(net, 30).spikes)


# --- nodes: scale, flatten, delay, nested and recurrent graphs ---


def test_scale_and_flatten_compose_into_the_weights():
    g = graph(
        {
            "in": nir.Input(input_type={"input": A([1, 2])}),
            "flat": nir.Flatten(input_type={"input": A([1, 2])}, start_dim=0),
            "sc": nir.Scale(scale=A([2.0, -1.0])),
            "fc": nir.Linear(weight=A([[1.0, 1.0]])),
            "n": lif(1),
            "out": nir.Output(output_type={"output": A([1])}),
        },
        [("in", "flat"), ("flat", "sc"), ("sc", "fc"), ("fc", "n"), ("n", "out")],
    )
    net, _ = import_nir(g)
    w = net.projections[0].weight
    assert w[0] == -2 * w[1]


def test_recurrent_edge_becomes_a_self_projection():
    g = ff(lif(3), np.eye(3))
    g.nodes["rec"] = nir.Linear(weight=np.full((3, 3), -0.5))
    g.edges += [("lif", "rec"), ("rec", "lif")]
    net, rep = import_nir(g)
    pres = sorted((p.pre, p.post, len(p)) for p in net.projections)
    assert pres == [("in", "lif", 3), ("lif", "lif", 9)]
    assert rep.latency == {"lif": 1}


def test_nested_subgraph_is_inlined():
    inner = graph(
        {
            "input": nir.Input(input_type={"input": A([2])}),
            "lif": lif(2),
            "w_rec": nir.Linear(weight=np.eye(2)),
            "output": nir.Output(output_type={"output": A([2])}),
        },
        [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        dt=None,
    )
    g = graph(
        {
            "in": nir.Input(input_type={"input": A([2])}),
            "fc": nir.Linear(weight=np.eye(2)),
            "r": inner,
            "out": nir.Output(output_type={"output": A([2])}),
        },
        [("in", "fc"), ("fc", "r"), ("r", "out")],
    )
    net, rep = import_nir(g)
    assert [p.name for p in net.populations] == ["r.lif"]
    assert rep.outputs == {"out": ["r.lif"]}


def delayed(steps, strict=True):
    g = ff(lif(1), [[1.0]])
    g.nodes["d"] = nir.Delay(delay=A([steps * 1e-3]))
    g.edges = [("in", "d"), ("d", "fc"), ("fc", "lif"), ("lif", "out")]
    return import_nir(g, strict=strict)


def test_zero_delay_node_is_accepted():
    net, _ = delayed(0)
    assert len(net.projections) == 1


def test_delay_node_becomes_the_projection_delay():
    # one tick of the chip plus the Delay node's 2 steps
    net, rep = delayed(2)
    assert [p.delay for p in net.projections] == [3]
    assert not any("ticks of synaptic delay" in n for n in rep.notes)


def test_delay_past_the_longest_chip_delay_is_refused_when_strict():
    with pytest.raises(
        NIRError, match=r"needs 16 ticks of synaptic delay; the chip supports at most 15 ticks"
    ):
        delayed(15)


def test_delay_past_the_longest_chip_delay_is_mapped_and_reported_when_lenient():
    net, rep = delayed(15, strict=False)
    assert [p.delay for p in net.projections] == [15]
    assert any("needs 16 ticks" in n for n in rep.notes)


def test_export_import_round_trip_keeps_delays(tmp_path):
    net = Network("delays")
    net.population("a", 3, vth=10, v0=[700, 0, 0], record=True)
    net.population("b", 2, vth=10, record=True)
    net.source("in", 2, spikes=[(0, 0), (2, 1)])
    net.connect("in", "a", weight=20, delay=4)
    net.connect("a", "b", weight=30, delay=7, connectivity="all_to_all")
    net.connect("a", "a", weight=9, connectivity="one_to_one")
    back = roundtrip(net, tmp_path)
    assert [p.delay for p in back.projections] == [4, 7, 1]
    assert dump_network(back) == dump_network(net)
    assert run_golden(back, 20).diff(run_golden(net, 20)) == []
    # the general (non-exact) import reads the Delay nodes the same way
    g = to_nir(net)
    for node in g.nodes.values():
        node.metadata = {}
    g.metadata = {"dt": 1e-3}
    imp, _ = import_nir(g)
    assert sorted(p.delay for p in imp.projections) == [1, 4, 7]


def test_fractional_delay_is_an_error():
    with pytest.raises(NIRError, match="not a whole, non-negative number of ticks"):
        delayed(1.5)


# --- quantization ---


def test_scale_choice_minimizes_error_on_a_known_case():
    # weights 100 and 3 under a threshold of 1000. The naive scale (largest weight on 127:
    # k = 1.27) rounds 3 * 1.27 = 3.81 to 4 (5 % off); the chosen scale must do no worse
    # than any scale on a fine grid, and much better than the naive one.
    layer = LayerSpec("n", "LIF", 1, 0.0, 0.9, 1000.0, 0.0)
    projs = [ProjSpec("a", "n", A([[100.0, 3.0]]))]
    k = choose_scale(layer, projs)
    best = _error(layer, projs, k)
    naive = _error(layer, projs, 1.27)
    grid = np.geomspace(0.01, 131.071, 4000)
    assert best <= min(_error(layer, projs, g) for g in grid) + 1e-12
    assert best < naive / 10


def test_exactly_representable_weights_quantize_without_error():
    layer = LayerSpec("n", "LIF", 1, 0.0, 0.9, 10.0, 0.0)
    projs = [ProjSpec("a", "n", A([[2.0, -3.0]]))]
    assert _error(layer, projs, choose_scale(layer, projs)) == 0


def test_wrong_scale_is_worse():
    # a deliberately wrong variant: a scale that clips must show a larger error
    layer = LayerSpec("n", "LIF", 1, 0.0, 0.9, 10.0, 0.0)
    projs = [ProjSpec("a", "n", A([[2.0, -3.0]]))]
    assert _error(layer, projs, 1e5) > 0.1


def test_report_lists_every_layer_and_projection():
    g = ff(lif(2), [[0.3, -0.7], [0.11, 0.5]])
    _, rep = import_nir(g)
    text = rep.format()
    assert "lif" in text and "in -> lif" in text and "max rel" in text and "rate" in text


# --- round trip ---


def roundtrip(net, tmp_path):
    path = tmp_path / "net.nir"
    write_nir(net, path)
    nir.read(path)  # nir's own reader accepts the file
    back, rep = import_nir(path)
    assert rep.exact
    return back


@pytest.mark.parametrize("name", ["synfire.yaml", "ei_random.yaml"])
def test_examples_round_trip(name, tmp_path):
    net = load_network(EXAMPLES / name)
    back = roundtrip(net, tmp_path)
    assert dump_network(back) == dump_network(net)


def test_every_field_round_trips(tmp_path):
    net = Network("all")
    net.source("s", 3, spikes=[[0, 1], [4, 2]])
    net.source("b", 2, bernoulli=0.3, seed=5)
    net.source("none", 1, spikes=[])
    net.population("a", 3, du=4095, dv=0, vth=9, bias_mant=-7, bias_exp=2, refractory=3)
    net.population("c", 2, du=10, dv=4095, vth=1, u0=[5, -6], v0=3, record=True)
    net.population("d", 2, du=4095, dv=200, vth=77)
    net.connect("s", "a", connectivity="one_to_one", weight=-128, weight_exp=7)
    net.connect("a", "c", connectivity="explicit", pairs=[[0, 0, 5], [0, 0, 6]])  # duplicate pair
    net.connect("b", "c", weight=1)
    net.connect("c", "c", connectivity="explicit", pairs=[])
    net.connect("c", "d", weight=3, weight_exp=1)
    back = roundtrip(net, tmp_path)
    assert dump_network(back) == dump_network(net)


def test_reset_mode_round_trips(tmp_path):
    net = Network("resets")
    net.source("s", 2, spikes=[[0, 1]])
    net.population("a", 2, du=4095, vth=9, reset="subtract")
    net.population("b", 2, du=4095, vth=9)
    net.connect("s", "a", weight=100)
    net.connect("a", "b", weight=100)
    back = roundtrip(net, tmp_path)
    assert [p.params.reset for p in back.populations] == ["subtract", "zero"]
    assert dump_network(back) == dump_network(net)


def test_inputs_replace_the_spikes_of_an_exported_source(tmp_path):
    net = load_network(EXAMPLES / "synfire.yaml")
    name = net.sources[0].name
    raster = np.zeros((5, net.sources[0].size), dtype=bool)
    raster[3, 0] = True
    back, rep = import_nir(to_nir(net), inputs={name: raster})
    assert rep.exact and back[name].events.tolist() == [[3, 0]]


def test_edited_floats_are_quantized_not_trusted(tmp_path):
    net = load_network(EXAMPLES / "synfire.yaml")
    g = to_nir(net)
    lin = next(n for n in g.nodes.values() if isinstance(n, nir.Linear))
    lin.weight = lin.weight * 1.5
    _, rep = import_nir(g)
    assert not rep.exact


def test_float_import_of_an_export_without_metadata_keeps_the_dynamics(tmp_path):
    # Without the metadata the floats alone carry the network (not its input spikes,
    # nor refractory periods: NIR has no field for them; synfire's do not matter).
    net = load_network(EXAMPLES / "synfire.yaml")
    g = to_nir(net)
    g.metadata = {"dt": 1e-3}
    for node in g.nodes.values():
        node.metadata = {}
    back, rep = import_nir(g, inputs={s.name: s.raster(120) for s in net.sources})
    assert not rep.exact
    assert np.array_equal(run_golden(back, 120).spikes, run_golden(net, 120).spikes)


# --- errors ---


def test_unsupported_node_names_the_node_and_the_supported_set():
    g = ff(lif(1), [[1.0]])
    g.nodes["lif"] = nir.LI(tau=np.ones(1), r=np.ones(1), v_leak=np.zeros(1))
    with pytest.raises(NIRError, match=r"node 'lif' is a LI, .*supported node types: Input"):
        import_nir(g)


def test_conv2d_is_refused():
    conv = nir.Conv2d(
        input_shape=None,
        weight=np.ones((1, 1, 2, 2)),
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=np.zeros(1),
    )
    g = nir.NIRGraph(
        nodes={"in": nir.Input(input_type={"input": A([1, 2, 2])}), "c": conv},
        edges=[("in", "c")],
        metadata={"dt": 1e-3},
        type_check=False,
    )
    with pytest.raises(NIRError, match="'c' is a Conv2d"):
        import_nir(g)


def test_nonzero_v_reset_is_refused_when_strict_and_reported_when_lenient():
    g = ff(lif(1, v_reset=0.2), [[1.0]])
    with pytest.raises(NIRError, match=r"LIF 'lif': v_reset = 0.2; the chip resets v to 0"):
        import_nir(g)
    _, rep = import_nir(g, strict=False)
    assert any("v_reset = 0.2" in n for n in rep.notes)


def test_subtract_reset_imports_as_subtract():
    # snnTorch's default reset_mechanism is subtract (its exporter does not write it): the
    # snntorch flavor imports it as the chip's subtract reset, strict, with nothing to note;
    # reset="zero" (--reset zero) or a file's own v_reset (spec flavor) keep zero.
    g = ff(lif(1, tau=1e-3, r=10.0), [[1.0]])
    g.metadata = {}  # snnTorch's exporter writes no dt: the flavor's 1e-4 s, beta = 0.9
    net, rep = import_nir(g, flavor="snntorch")
    assert pop(net, "lif").params.reset == "subtract"
    assert not any("reset by subtraction" in n for n in rep.notes)
    # the one known difference (docs/nir.md, flavors row 16) is reported, not refused
    assert [n for n in rep.notes if "reset" in n] == [
        "LIF 'lif': subtract reset timing: snnTorch subtracts the threshold at the step after "
        "a spike, undecayed; the chip subtracts it at the spike tick and then decays the rest, "
        "so it removes beta * theta (beta = 0.9) by the next step"
    ]
    assert pop(import_nir(g, flavor="snntorch", reset="zero")[0], "lif").params.reset == "zero"
    g.metadata = {"dt": 1e-3}
    assert pop(import_nir(g)[0], "lif").params.reset == "zero"
    assert pop(import_nir(g, reset="subtract")[0], "lif").params.reset == "subtract"


def test_subtract_reset_runs_as_subtract():
    # One LIF driven by an input that fires every tick: with subtract reset the residue
    # above threshold stays, so the chip fires more than the same import with zero reset.
    g = ff(lif(1, tau=0.01, thr=1.0), [[5.0]])
    x = np.ones((30, 1), dtype=bool)
    counts = {}
    for reset in ("zero", "subtract"):
        net, _ = import_nir(g, reset=reset, inputs={"in": x})
        assert pop(net, "lif").params.reset == reset
        counts[reset] = int(run_golden(net, 30).spikes.sum())
    assert counts == {"zero": 9, "subtract": 12}


def test_cycle_through_non_neuron_nodes_is_refused():
    g = ff(lif(1), [[1.0]])
    g.nodes["loop"] = nir.Linear(weight=A([[0.5]]))
    g.edges += [("fc", "loop"), ("loop", "fc")]
    with pytest.raises(NIRError, match="cycle through non-neuron nodes"):
        import_nir(g)


def test_mismatched_shapes_are_refused():
    g = ff(lif(3), np.ones((3, 2)))
    g.nodes["in"] = nir.Input(input_type={"input": A([5])})
    with pytest.raises(NIRError, match=r"edge 'in' -> 'fc' carries 5 values, Linear 'fc' takes 2"):
        import_nir(g)


def test_missing_time_step_is_refused_by_the_spec_flavor():
    g = ff(lif(1), [[1.0]])
    g.metadata = {}
    with pytest.raises(NIRError, match="no time step"):
        import_nir(g)
    assert import_nir(g, dt=1e-3)[0].num_neurons == 1


def test_time_step_longer_than_a_time_constant_is_refused():
    with pytest.raises(NIRError, match="decay per tick is -1"):
        import_nir(ff(lif(1, tau=1e-3), [[1.0]]), flavor="snntorch", dt=2e-3, reset="zero")


def test_output_behind_weights_is_refused():
    g = ff(lif(1), [[1.0]])
    g.nodes["ro"] = nir.Linear(weight=A([[2.0]]))
    g.edges = [("in", "fc"), ("fc", "lif"), ("lif", "ro"), ("ro", "out")]
    with pytest.raises(NIRError, match="Output 'out' is not driven by neuron spikes alone"):
        import_nir(g)


def test_unknown_flavor_and_reset():
    g = ff(lif(1), [[1.0]])
    with pytest.raises(NIRError, match="unknown NIR flavor 'brian'; known flavors: spec"):
        import_nir(g, flavor="brian")
    with pytest.raises(NIRError, match="reset must be one of zero, subtract"):
        import_nir(g, reset="hold")


def test_corrupt_file(tmp_path):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"\x89HDF not really" * 10)
    with pytest.raises(NIRError, match="not a readable NIR file"):
        import_nir(bad)


def test_truncated_file(tmp_path):
    good = tmp_path / "good.nir"
    write_nir(load_network(EXAMPLES / "synfire.yaml"), good)
    cut = tmp_path / "cut.nir"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(NIRError, match=r"cut\.nir: not a readable NIR file"):
        import_nir(cut)


def test_batch_dimension_in_an_input_file_is_flattened(tmp_path):
    # Norse writes Input shapes with a batch dimension, [1, n]; nir's own type check
    # rejects them, the importer only needs the flat sizes to agree
    g = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": A([1, 2])}),
            "fc": nir.Linear(weight=np.eye(2)),
            "lif": lif(2),
        },
        edges=[("in", "fc"), ("fc", "lif")],
        metadata={"dt": 1e-3},
        type_check=False,
    )
    nir.write(tmp_path / "b.nir", g)
    net, _ = import_nir(tmp_path / "b.nir")
    assert net["in"].size == 2 and len(net.projections[0]) == 2


def test_network_from_nir_keeps_the_report():
    net = Network.from_nir(ff(lif(2), np.eye(2)), dt=2e-3)
    assert net.nir_report.dt == 2e-3 and net.num_neurons == 2
    assert "in -> lif" in net.nir_report.format()


def test_inputs_of_the_wrong_width_are_refused():
    with pytest.raises(NIRError, match="inputs\\['in'\\] has 3 channels, the Input has 2"):
        import_nir(ff(lif(2), np.eye(2)), inputs={"in": np.ones((4, 3), dtype=bool)})


def test_parameters_that_differ_between_neurons():
    node = lif(2)
    node.tau = A([0.01, 0.02])
    g = ff(node, np.eye(2))
    with pytest.raises(NIRError, match="LIF 'lif': tau differs between neurons"):
        import_nir(g)
    _, rep = import_nir(g, strict=False)
    assert any("the mean is used" in n for n in rep.notes)


def test_malformed_parameters_give_an_error_not_a_traceback():
    g = ff(lif(2), np.eye(2))
    g.nodes["sc"] = nir.Scale(scale=A([1.0, 2.0, 3.0]))
    g.edges = [("in", "fc"), ("fc", "sc"), ("sc", "lif"), ("lif", "out")]
    with pytest.raises(NIRError, match="edge 'sc' -> 'lif' carries 3 values, LIF 'lif' takes 2"):
        import_nir(g)
    g = ff(lif(2), np.eye(2))
    g.nodes["fc"] = nir.Affine(weight=np.eye(2), bias=A([1.0, 2.0, 3.0]))
    with pytest.raises(NIRError, match="bias has 3 values, weight has 2 rows"):
        import_nir(g)
    node = lif(2)
    node.tau = A(["fast", "slow"])
    with pytest.raises(NIRError, match="malformed NIR graph: ValueError"):
        import_nir(ff(node, np.eye(2)))


def test_missing_file(tmp_path):
    with pytest.raises(NIRError, match="no such NIR file"):
        import_nir(tmp_path / "nope.nir")


# --- command line handlers ---


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_nir_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args([str(a) for a in argv])


class Console:
    def __init__(self):
        self.text = []

    def print(self, text, **_):
        self.text.append(str(text))


def test_cli_export_then_import(tmp_path):
    nir_file, yaml_file = tmp_path / "s.nir", tmp_path / "s.yaml"
    con = Console()
    args = parse("export", EXAMPLES / "synfire.yaml", "-o", nir_file)
    assert args.func(args, con) == 0
    args = parse("import", nir_file, "-o", yaml_file)
    assert args.func(args, con) == 0
    net = load_network(yaml_file)
    assert dump_network(net) == dump_network(load_network(EXAMPLES / "synfire.yaml"))
    assert "written to" in con.text[-1]


def test_cli_import_lenient_and_options(tmp_path):
    # v_reset = 0.2 is what the chip cannot express (reset by subtraction used to be the
    # refused feature here, before the core had reset modes)
    g = ff(lif(1, tau=1e-3, r=10.0, v_reset=0.2), [[1.0]])
    g.metadata = {}
    path, out = tmp_path / "m.nir", tmp_path / "m.yaml"
    nir.write(path, g)
    args = parse("import", path, "-o", out, "--flavor", "snntorch")
    with pytest.raises(NIRError, match=r"v_reset = 0\.2"):
        args.func(args, Console())
    con = Console()
    args = parse("import", path, "-o", out, "--flavor", "snntorch", "--lenient", "--dt", "2e-4")
    assert args.func(args, con) == 0
    assert "lenient mode" in con.text[0] and "dt 0.0002 s" in con.text[0]
    assert load_network(out)["lif"].params.dv == round(4096 * 0.2)


def test_cli_rejects_a_bad_dt():
    with pytest.raises(SystemExit):
        parse("import", "m.nir", "-o", "x.yaml", "--dt", "-1")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["weight", "scale"])
def test_non_finite_weights_are_named(bad, where):
    """Found by the fuzzer: NaN reached a matmul (a RuntimeWarning) instead of an error."""
    w = A([[0.5, bad]]) if where == "weight" else A([[0.5, 0.5]])
    g = ff(nir.IF(r=np.ones(1), v_threshold=np.ones(1)), w, n_in=2)
    if where == "scale":
        g.nodes["sc"] = nir.Scale(scale=A([1.0, bad]))
        g.edges = [("in", "sc"), ("sc", "fc"), ("fc", "lif"), ("lif", "out")]
    kind = "Linear 'fc'" if where == "weight" else "Scale 'sc'"
    with pytest.raises(NIRError, match=f"{kind}: {where} has non-finite values"):
        import_nir(g)


def test_weights_that_overflow_when_composed_are_named():
    g = ff(nir.IF(r=np.ones(1), v_threshold=np.ones(1)), A([[1e308, 1e308]]), n_in=2)
    g.nodes["sc"] = nir.Scale(scale=A([1e308, 1e308]))
    g.edges = [("in", "sc"), ("sc", "fc"), ("fc", "lif"), ("lif", "out")]
    with pytest.raises(
        NIRError, match="Linear 'fc': the weights composed up to this node overflow"
    ):
        import_nir(g)


def test_time_step_given_as_an_array():
    """Found by the fuzzer: a one-element dt array was a NumPy DeprecationWarning."""
    g = ff(nir.IF(r=np.ones(1), v_threshold=np.ones(1)), A([[0.5]]))
    g.metadata = {"dt": A([1e-3])}
    net, _ = import_nir(g)
    assert net.num_neurons == 1
    g.metadata = {"dt": A([1e-3, 2e-3])}
    with pytest.raises(NIRError, match="time step from the file's metadata must be one number"):
        import_nir(g)
