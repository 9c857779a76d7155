"""decode_run: a run's responses become a Result, and a malformed stream is named, not dropped."""

from __future__ import annotations

import numpy as np
import pytest
from spikemesh.firmware.loader import decode_run, unpack_responses

from spikemesh.config import ChipConfig, CoreConfig, host_source_layout
from spikemesh.errors import SpikemeshError
from spikemesh.hostlink import Rsp, response_layout
from tests.firmware.random_nets import random_network

CHIP = ChipConfig(
    width=2,
    height=1,
    core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4),
)


@pytest.fixture(scope="module")
def image():
    from spikemesh.firmware import compile_network

    net = random_network(3, max_neurons=20, recurrent=False)
    img, _ = compile_network(net, CHIP)
    return img


def _spike(image, neuron, tick):
    """The SPIKE response of network neuron ``neuron`` in ``tick``."""
    slot = int(image.neuron_slot[neuron])
    tile, i = divmod(slot, CHIP.core.neurons)
    b = host_source_layout(CHIP).pack(x=tile % CHIP.width, y=tile // CHIP.width, neuron=i)
    return (int(Rsp.SPIKE), tick, b)


def _done(tick, cycles):
    return (int(Rsp.TICK_DONE), tick, cycles)


def test_spikes_cycles_and_state_are_decoded(image):
    n = image.num_neurons
    rsp = [_spike(image, 1, 0), _done(0, 40), _spike(image, n - 1, 1), _spike(image, 0, 1)]
    rsp += [_done(1, 57)]
    u, v = -5, 1000
    rsp += [(int(Rsp.STATE), 0, ((v & 0xFFFFFF) << 24) | (u & 0xFFFFFF))] * n
    res = decode_run(image, rsp, 2, np.zeros((2, 1), bool))
    assert res.cycles.tolist() == [40, 57]
    assert np.flatnonzero(res.spikes[0]).tolist() == [1]
    assert np.flatnonzero(res.spikes[1]).tolist() == [0, n - 1]
    assert res.final_u.tolist() == [u] * n and res.final_v.tolist() == [v] * n
    # the same responses as an array, and as the RTL's packed words, decode the same way
    arr = decode_run(image, np.array(rsp), 2, np.zeros((2, 1), bool))
    lay = response_layout()
    words = [lay.pack(op=o, a=a, b=b) for o, a, b in rsp]
    packed = decode_run(image, unpack_responses(words), 2, np.zeros((2, 1), bool))
    for r in (arr, packed):
        assert (r.spikes == res.spikes).all() and (r.cycles == res.cycles).all()
        assert (r.final_v == res.final_v).all()


def test_no_responses_for_zero_ticks(image):
    res = decode_run(image, [], 0, np.zeros((0, 1), bool))
    assert res.spikes.shape == (0, image.num_neurons)


def test_a_spike_from_an_empty_slot_is_named(image):
    free = sorted(set(range(CHIP.neurons)) - set(image.neuron_slot.tolist()))
    tile, i = divmod(free[0], CHIP.core.neurons)
    b = host_source_layout(CHIP).pack(x=tile % CHIP.width, y=tile // CHIP.width, neuron=i)
    with pytest.raises(SpikemeshError, match=rf"core \({tile % CHIP.width},0\) neuron {i}, where"):
        decode_run(image, [(int(Rsp.SPIKE), 0, b), _done(0, 9)], 1, np.zeros((1, 1), bool))


def test_a_spike_after_the_last_tick_is_named(image):
    with pytest.raises(SpikemeshError, match="stamped tick 3, the run had 1 ticks"):
        decode_run(image, [_spike(image, 0, 3), _done(0, 9)], 1, np.zeros((1, 1), bool))


def test_a_neuron_reported_twice_is_named(image):
    rsp = [_done(0, 9), _spike(image, 2, 1), _spike(image, 2, 1), _done(1, 9)]
    with pytest.raises(SpikemeshError, match="neuron 2 reported twice in tick 1"):
        decode_run(image, rsp, 2, np.zeros((2, 1), bool))


def test_tick_done_out_of_order_or_missing_is_named(image):
    with pytest.raises(SpikemeshError, match="TICK_DONE for tick 2, expected tick 1"):
        decode_run(image, [_done(0, 9), _done(2, 9)], 3, np.zeros((3, 1), bool))
    with pytest.raises(SpikemeshError, match="the run ended after 1 of 3 ticks"):
        decode_run(image, [_done(0, 9)], 3, np.zeros((3, 1), bool))
