"""SystemConfig, the system compiler, the system image file, and a one-process system run."""

import json
import struct

import numpy as np
import pytest
from spikemesh.firmware import compile_network
from spikemesh.firmware.system import (
    SYSTEM_IMAGE_VERSION,
    SystemImage,
    compile_system,
)
from spikemesh.sim.distributed import DistributedSim, chip_ranges, run_system

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import CompileError, ConfigError, ImageError
from spikemesh.golden import run_golden
from spikemesh.network import Network
from spikemesh.system import SystemConfig

from .random_nets import random_network

CORE = CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, profiles=4)
SYSTEM = SystemConfig(chips_x=2, chips_y=2, chip=ChipConfig(width=2, height=1, core=CORE))


def spread(net, system):
    """neurons_per_core that puts neurons on every chip."""
    return -(-net.num_neurons // system.tiles)


# --- SystemConfig -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chips_x": 0}, "Chips per row (SystemConfig.chips_x) must be between 1 and 64, not 0"),
        (
            {"chips_y": 65},
            "Chips per column (SystemConfig.chips_y) must be between 1 and 64, not 65",
        ),
        (
            {"link_latency": 0},
            "Chip-to-chip link latency (SystemConfig.link_latency) must be between 1 and "
            "65,535, not 0",
        ),
        (
            {"link_cycles_per_flit": 2000},
            "Chip-to-chip link cycles per flit (SystemConfig.link_cycles_per_flit) must be "
            "between 1 and 1,024, not 2,000",
        ),
        ({"chips_x": 1.5}, "SystemConfig.chips_x must be an integer, not 1.5"),
        ({"chip": "big"}, "SystemConfig.chip must be a ChipConfig, not 'big'"),
    ],
)
def test_init_wrong_param(kwargs, message):
    with pytest.raises(ConfigError) as e:
        SystemConfig(**kwargs)
    assert str(e.value) == message


def test_system_yaml_round_trip(tmp_path):
    p = tmp_path / "system.yaml"
    p.write_text(SYSTEM.to_yaml())
    assert SystemConfig.from_yaml(p) == SYSTEM
    assert SystemConfig.from_dict(SYSTEM.to_dict()) == SYSTEM
    assert (SYSTEM.tiles_x, SYSTEM.tiles_y, SYSTEM.tiles, SYSTEM.neurons) == (4, 2, 8, 128)


def test_system_yaml_errors_name_the_key(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("chips_x: 2\nchip: {width: 100}\n")
    with pytest.raises(ConfigError, match=r"s\.yaml: Mesh width \(ChipConfig.width\) must be"):
        SystemConfig.from_yaml(p)
    p.write_text("chips_x: 2\nlinks: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) links; known keys are chip, "):
        SystemConfig.from_yaml(p)


# --- the compiler -----------------------------------------------------------------------------


def test_one_chip_system_is_the_chip_image():
    net = random_network(2)
    system = SystemConfig(chips_x=1, chips_y=1, chip=ChipConfig(width=2, height=2, core=CORE))
    img, _ = compile_system(net, system)
    chip_img, _ = compile_network(net, system.chip)
    assert img.chips[0] == chip_img
    assert not img.fan_chip[0].any()


def test_placement_fills_chips_in_order():
    net = Network()
    net.population("a", 40)
    img, util = compile_system(net, SYSTEM)
    assert img.neuron_first.tolist() == [0, 32, 40, 40, 40]
    assert [int(u.neurons.sum()) for u in util.chips] == [32, 8, 0, 0]
    img2, _ = compile_system(net, SYSTEM, neurons_per_core=5)
    assert img2.neuron_first.tolist() == [0, 10, 20, 30, 40]


def test_capacity_error_names_chip_and_core():
    net = Network()
    net.population("a", 200)
    with pytest.raises(CompileError, match=r"the network has 200 neurons, the chip holds 128 "):
        compile_system(net, SYSTEM)
    net = Network()
    net.population("a", 16)
    net.population("b", 16)
    net.connect("a", "b", connectivity="all_to_all", weight=1)
    small = SystemConfig(
        chips_x=2,
        chips_y=1,
        chip=ChipConfig(width=1, height=1, core=CoreConfig(neurons=16, synapses=128)),
    )
    with pytest.raises(CompileError, match=r"chip \(1,0\) core \(0,0\) needs 256 synapses"):
        compile_system(net, small)


def test_link_crossings_follow_xy_routes():
    """2 x 2 chips of 1 x 1 tiles: a neuron on chip (0,0) feeding chip (1,1) goes east on
    row 0, then north on column 1; the reply from (1,1) goes west on row 1, south on column 0."""
    one = ChipConfig(width=1, height=1, core=CoreConfig(neurons=16))
    system = SystemConfig(chips_x=2, chips_y=2, chip=one)
    net = Network()
    for k in range(4):
        net.population(f"p{k}", 1, vth=10)
    net.connect("p0", "p3", connectivity="one_to_one", weight=1)
    net.connect("p3", "p0", connectivity="one_to_one", weight=1)
    img, util = compile_system(net, system, neurons_per_core=1)
    c = util.crossings
    assert c["east"].tolist() == [[1, 0]]
    assert c["north"].tolist() == [[0, 1]]
    assert c["west"].tolist() == [[0, 1]]
    assert c["south"].tolist() == [[1, 0]]
    assert img.fan_chip[0].tolist() == [3] and img.fan_chip[3].tolist() == [0]
    flits = {name: total for name, total, _ in util.link_summary(0.5)}
    assert flits["chip (0,0) -> chip (1,0)"] == 0.5
    assert flits["chip (1,0) -> chip (1,1)"] == 0.5
    assert flits["chip (0,1) -> chip (1,1)"] == 0.0
    assert "busiest link 0.5 (>= 2 cycles)" in util.report(0.5)


# --- the image file ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image():
    net = random_network(5, max_neurons=100)
    return compile_system(net, SYSTEM, neurons_per_core=spread(net, SYSTEM))[0]


def test_image_round_trip(image, tmp_path):
    p = tmp_path / "net.simg"
    image.save(p)
    loaded = SystemImage.load(p)
    assert loaded == image
    assert loaded.digest() == image.digest()


def test_partial_load_reads_only_the_chips_asked_for(image, tmp_path):
    p = tmp_path / "net.simg"
    image.save(p)
    part = SystemImage.load(p, chips=[1, 2])
    assert part.loaded() == [1, 2]
    assert part.chips[1] == image.chips[1] and part.chips[0] is None
    assert part.digest() == image.digest()
    with pytest.raises(ImageError, match=r"no chip 4; the system has 4"):
        SystemImage.load(p, chips=[4])


def _section(data, chip, which):
    head_len = struct.unpack_from("<Q", data, 12)[0]
    meta = json.loads(data[52 : 52 + head_len])
    off, length, _ = meta["sections"][chip][which]
    return 52 + head_len + off, length


def test_corrupted_or_truncated_images_refused(image):
    data = bytes(image.to_bytes())
    bad = bytearray(data)
    bad[60] ^= 1
    with pytest.raises(ImageError, match=r"system image header is corrupted \(SHA-256"):
        SystemImage.from_bytes(bytes(bad))
    off, length = _section(data, 2, "image")
    bad = bytearray(data)
    bad[off + length - 5] ^= 1
    with pytest.raises(ImageError, match=r"chip \(0,1\) image: section is corrupted"):
        SystemImage.from_bytes(bytes(bad))
    # a chip not asked for is not read, so its corruption does not matter
    assert SystemImage.from_bytes(bytes(bad), chips=[0]).chips[0] == image.chips[0]
    with pytest.raises(ImageError, match=r"chip \(1,1\) fan_chip table: the file is truncated"):
        SystemImage.from_bytes(data[:-3])
    with pytest.raises(ImageError, match=r"too short for a spikemesh system image header"):
        SystemImage.from_bytes(data[:20])
    with pytest.raises(ImageError, match=r"not a spikemesh system image \(bad magic"):
        SystemImage.from_bytes(b"X" + data[1:])
    bad = bytearray(data)
    struct.pack_into("<I", bad, 8, SYSTEM_IMAGE_VERSION + 1)
    with pytest.raises(
        ImageError,
        match=rf"format version {SYSTEM_IMAGE_VERSION + 1}; this spikemesh reads version "
        rf"{SYSTEM_IMAGE_VERSION} \(recompile",
    ):
        SystemImage.from_bytes(bytes(bad))


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match=r"system image file .*nope.simg does not exist"):
        SystemImage.load(tmp_path / "nope.simg")


# --- one process ------------------------------------------------------------------------------


def test_chip_ranges():
    assert chip_ranges(4, 3) == [(0, 1), (1, 2), (2, 4)]
    assert chip_ranges(4, 1) == [(0, 4)]
    with pytest.raises(Exception, match=r"3 ranks for a system of 2 chip\(s\)"):
        chip_ranges(2, 3)


@pytest.mark.parametrize("seed", range(6))
def test_one_process_system_equals_golden(seed, tmp_path):
    net = random_network(seed)
    img, _ = compile_system(net, SYSTEM, neurons_per_core=spread(net, SYSTEM))
    g = run_golden(net, 60)
    r = run_system(img, net.input_raster(60), 60)
    assert g.diff(r) == []
    assert g.spikes.any()
    if seed == 0:  # the file path: every chip read from disk
        img.save(tmp_path / "s.simg")
        assert g.diff(run_system(tmp_path / "s.simg", net.input_raster(60), 60)) == []


def test_a_wrong_image_is_caught():
    """The comparison can fail: one core's weights inverted in one chip's synapse memory."""
    net = random_network(0)
    img, _ = compile_system(net, SYSTEM, neurons_per_core=spread(net, SYSTEM))
    g = run_golden(net, 60)
    core = max((c for ci in img.chips for c in ci.cores), key=lambda c: c.syn_weight.size)
    core.syn_weight[:] = -core.syn_weight - 1
    r = DistributedSim(img).run(60, net.input_raster(60))
    assert g.diff(r) != []
    assert np.array_equal(r.inputs, g.inputs)


def test_unknown_exchange_refused():
    net = random_network(0)
    img, _ = compile_system(net, SYSTEM, neurons_per_core=spread(net, SYSTEM))
    with pytest.raises(Exception, match=r"exchange must be 'neighbours' or 'alltoallv', not 'x'"):
        DistributedSim(img, exchange="x")
