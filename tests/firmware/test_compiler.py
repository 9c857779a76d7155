import numpy as np
import pytest
from spikemesh.firmware import compile_network
from spikemesh.sim.chip import ChipModel, image_synapses

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import CompileError
from spikemesh.golden import run_golden
from spikemesh.network import Network

from .random_nets import random_network

CHIPS = {
    "2x2-n16": ChipConfig(
        width=2,
        height=2,
        core=CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, profiles=4),
    ),
    "3x2-n32": ChipConfig(
        width=3,
        height=2,
        core=CoreConfig(neurons=32, axons=512, synapses=4096, fanout=1024, profiles=4, acc_bits=20),
    ),
    "1x3-n64": ChipConfig(
        width=1,
        height=3,
        core=CoreConfig(neurons=64, axons=1024, synapses=8192, fanout=2048, profiles=8),
    ),
}


@pytest.mark.parametrize("chip", CHIPS, ids=str)
@pytest.mark.parametrize("seed", range(8))
def test_functional_tlm_equals_golden(chip, seed):
    cfg = CHIPS[chip]
    net = random_network(seed, max_neurons=min(120, cfg.neurons))
    img, _ = compile_network(net, cfg)
    g = run_golden(net, 60, acc_bits=cfg.core.acc_bits)
    r = ChipModel(img).run(60, net.input_raster(60))
    assert g.diff(r) == []
    assert g.spikes.any(), "a test network that never spikes proves little"


def test_image_synapses_equal_network_synapses():
    """Walking the image tables yields exactly the network's synapse multiset."""
    net = random_network(3)
    cfg = CHIPS["2x2-n16"]
    img, _ = compile_network(net, cfg)
    pre, post, wv = image_synapses(img)
    npre, npost, w, e = net.synapse_arrays()
    n_slots = cfg.neurons
    slot = img.neuron_slot
    # map the network's ends to slot space
    mpre = np.where(
        npre < net.num_neurons,
        slot[np.minimum(npre, net.num_neurons - 1)],
        n_slots + npre - net.num_neurons,
    )
    a = sorted(zip(mpre.tolist(), slot[npost].tolist(), (w << e).tolist(), strict=False))
    b = sorted(zip(pre.tolist(), post.tolist(), wv.tolist(), strict=False))
    assert a == b


def test_placement_is_row_major_and_deterministic():
    net = Network()
    net.population("a", 40)
    cfg = CHIPS["2x2-n16"]
    img, util = compile_network(net, cfg)
    assert util.neurons.tolist() == [16, 16, 8, 0]
    assert img.neuron_slot[17] == 16 + 1  # tile 1 = (1, 0), index 1
    img2, _ = compile_network(net, cfg)
    assert img == img2


def test_neurons_per_core_spreads():
    net = Network()
    net.population("a", 40)
    _, util = compile_network(net, CHIPS["2x2-n16"], neurons_per_core=10)
    assert util.neurons.tolist() == [10, 10, 10, 10]


def test_profiles_deduplicated_per_core():
    net = Network()
    net.population("a", 8, vth=10)
    net.population("b", 8, vth=10)  # same parameters as a: one profile
    net.population("c", 8, vth=11)
    img, util = compile_network(net, CHIPS["2x2-n16"])
    assert util.profiles.tolist() == [1, 1, 0, 0]
    assert img.cores[0].profiles.shape[0] == 1


def test_host_outputs_selection():
    net = Network()
    net.population("a", 4, record=True)
    net.population("b", 4)
    cfg = CHIPS["2x2-n16"]
    assert compile_network(net, cfg)[0].cores[0].host_out[:8].all()
    img, _ = compile_network(net, cfg, host_outputs="recorded")
    assert img.cores[0].host_out[:8].tolist() == [True] * 4 + [False] * 4
    img, _ = compile_network(net, cfg, host_outputs=["b"])
    assert img.cores[0].host_out[:8].tolist() == [False] * 4 + [True] * 4
    with pytest.raises(CompileError, match="host_outputs names 'zz', which is not a population"):
        compile_network(net, cfg, host_outputs=["zz"])


def test_utilization_report_lists_cores_and_totals():
    net = random_network(1)
    _, util = compile_network(net, CHIPS["2x2-n16"])
    rep = util.report()
    assert "(0,0)" in rep and "total" in rep and "synapses" in rep


# --- error paths: what does not fit, where, and by how much ---


def test_too_many_neurons():
    net = Network()
    net.population("a", 70)
    with pytest.raises(
        CompileError,
        match=r"the network has 70 neurons, the chip holds 64 "
        r"\(2 x 2 cores x 16 neurons\); 6 do not fit",
    ):
        compile_network(net, CHIPS["2x2-n16"])


def test_too_many_synapses_names_core_and_limit():
    cfg = ChipConfig(
        width=2, height=1, core=CoreConfig(neurons=16, axons=64, synapses=64, fanout=1024)
    )
    net = Network()
    net.population("a", 16)
    net.population("b", 16)
    net.connect("a", "b", connectivity="all_to_all", weight=1)  # 256 synapses onto core (1,0)
    with pytest.raises(CompileError, match=r"core \(1,0\) needs 256 synapses, the core holds 64"):
        compile_network(net, cfg)


def test_too_many_axons():
    cfg = ChipConfig(
        width=2, height=1, core=CoreConfig(neurons=16, axons=16, synapses=1024, fanout=1024)
    )
    net = Network()
    net.source("in", 20, bernoulli=0.1, seed=1)
    net.population("a", 16)
    net.connect("in", "a", connectivity="one_to_one" if False else "all_to_all", weight=1)
    with pytest.raises(CompileError, match=r"core \(0,0\) needs 20 axons, the core holds 16"):
        compile_network(net, cfg)


def test_too_many_fanout_entries():
    cfg = ChipConfig(
        width=2, height=2, core=CoreConfig(neurons=16, axons=64, synapses=1024, fanout=16)
    )
    net = Network()
    net.population("a", 16)
    net.population("b", 48)
    net.connect("a", "b", connectivity="all_to_all", weight=1)  # 16 neurons x 3 tiles = 48 entries
    with pytest.raises(
        CompileError, match=r"core \(0,0\) needs 48 fan-out entries, the core holds 16"
    ):
        compile_network(net, cfg)


def test_too_many_profiles():
    cfg = ChipConfig(width=1, height=1, core=CoreConfig(neurons=16, profiles=2))
    net = Network()
    for k in range(3):
        net.population(f"p{k}", 2, vth=10 + k)
    with pytest.raises(
        CompileError, match=r"core \(0,0\) needs 3 neuron profiles, the core holds 2"
    ):
        compile_network(net, cfg)


def test_accumulator_worst_case_rejected():
    cfg = ChipConfig(width=1, height=1, core=CoreConfig(neurons=16, acc_bits=16))
    net = Network()
    net.source("in", 100, bernoulli=0.5, seed=1)
    net.population("a", 1)
    net.connect("in", "a", connectivity="all_to_all", weight=127, weight_exp=3)  # 100 * 1016
    with pytest.raises(
        CompileError,
        match=r"neuron 0 \(a\[0\]\) can receive a summed input of "
        r"0\.\.101,600 in one tick; the 16-bit accumulator holds "
        r"-32,768\.\.32,767",
    ):
        compile_network(net, cfg)


def test_bad_neurons_per_core():
    net = Network()
    net.population("a", 4)
    with pytest.raises(CompileError, match="neurons_per_core must be between 1 and 16, not 17"):
        compile_network(net, CHIPS["2x2-n16"], neurons_per_core=17)


@pytest.mark.parametrize("reload", [False, True], ids=["compiled", "reloaded"])
def test_numba_image_walk_equals_reference_walk(reload):
    """image_csr (numba, used by the tlm backend) == image_synapses (numpy, readable)."""
    from spikemesh.firmware import ChipImage
    from spikemesh.sim.chip import image_csr

    net = random_network(11, max_neurons=90)
    img, _ = compile_network(net, CHIPS["3x2-n32"])
    if reload:
        img = ChipImage.from_bytes(img.to_bytes())
    indptr, post, weight, _ = image_csr(img)
    pre_ref, post_ref, wv_ref = image_synapses(img)
    pre = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    got = sorted(zip(pre.tolist(), post.tolist(), weight.tolist(), strict=True))
    want = sorted(zip(pre_ref.tolist(), post_ref.tolist(), wv_ref.tolist(), strict=True))
    assert got == want and len(got) == net.num_synapses
