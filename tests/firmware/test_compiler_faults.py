"""Compiling for a faulty chip: live cores only, route tables in the image, same spikes."""

import struct

import numpy as np
import pytest
from spikemesh.firmware import compile_network
from spikemesh.firmware.image import ChipImage
from spikemesh.sim.chip import ChipModel

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import CompileError, ImageError
from spikemesh.faults import FaultMap
from spikemesh.golden import run_golden

from .random_nets import random_network

CHIP = ChipConfig(
    width=3,
    height=3,
    core=CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, profiles=4),
)


def test_empty_map_gives_the_fault_free_image():
    net = random_network(1, max_neurons=100)
    a, _ = compile_network(net, CHIP)
    b, _ = compile_network(net, CHIP, faults=FaultMap(width=3, height=3))
    assert a == b and b.faults is None and b.routing is None
    assert a.to_bytes() == b.to_bytes()


@pytest.mark.parametrize("seed", range(3))
def test_faulty_chip_gives_the_fault_free_spikes(seed):
    net = random_network(seed, max_neurons=100)
    faults = FaultMap.random(CHIP, seed=seed, links=2, cores=2)
    img, util = compile_network(net, CHIP, faults=faults, neurons_per_core=16)
    dead = [y * 3 + x for x, y in faults.cores]
    assert not np.isin(img.neuron_slot // 16, dead).any()
    assert util.neurons[dead].sum() == 0
    assert all(img.cores[t] == img.cores[t].empty(CHIP.core) for t in dead)
    assert img.routing is not None
    back = ChipImage.from_bytes(img.to_bytes())
    assert back == img and back.faults == faults
    g = run_golden(net, 40, acc_bits=CHIP.core.acc_bits)
    assert g.diff(ChipModel(back).run(40, net.input_raster(40))) == []


def test_no_room_on_live_cores():
    net = random_network(0, max_neurons=120)
    faults = FaultMap(width=3, height=3, cores={(x, y) for x in range(3) for y in range(1, 3)})
    with pytest.raises(CompileError, match=r"the chip holds 48 \(3 live of 3 x 3 cores x 16"):
        compile_network(net, CHIP, faults=faults)


def test_cut_off_refused():
    net = random_network(0, max_neurons=40)
    f = FaultMap.from_dict(
        {"links": [{"x": 2, "y": 2, "port": "west"}, {"x": 2, "y": 2, "port": "south"}]},
        chip=CHIP,
    )
    with pytest.raises(CompileError, match=r"cut off 1 tile\(s\) .*: \(2,2\); mark their cores"):
        compile_network(net, CHIP, faults=f)
    with pytest.raises(Exception, match="the fault map is for a 4 x 4 mesh, the chip is 3 x 3"):
        compile_network(net, CHIP, faults=FaultMap(width=4, height=4, cores={(1, 1)}))


def test_version_1_image_loads_as_fault_free():
    net = random_network(2, max_neurons=60)
    img, _ = compile_network(net, CHIP)
    data = bytearray(img.to_bytes())
    struct.pack_into("<I", data, 8, 1)
    old = ChipImage.from_bytes(bytes(data))
    assert old == img and old.faults is None


def test_image_on_dead_core_refused():
    net = random_network(2, max_neurons=60)
    img, _ = compile_network(net, CHIP)
    img.faults = FaultMap(width=3, height=3, cores={(0, 0)})
    with pytest.raises(ImageError, match=r"places neurons on the dead core \(0,0\)"):
        img.check()
    img.faults = FaultMap(width=3, height=3, channels={(1, 1, "east")})
    with pytest.raises(ImageError, match="dead links but no route tables"):
        img.check()
