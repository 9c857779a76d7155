"""Plastic networks through the compiler and the image (docs/learning.md "In the image"):
the image's learning tables, run by the functional TLM, learn exactly what golden learns,
and images of fixed networks are unchanged (version 4)."""

import copy

import numpy as np
import pytest
from spikemesh.firmware import auto_chip, compile_network
from spikemesh.firmware.image import IMAGE_VERSION, LEARNING_VERSION, ChipImage
from spikemesh.sim._stdp_image import PlasticImageModel

from spikemesh.errors import ImageError
from spikemesh.golden import run_golden

from .test_fast_stdp import random_plastic_net


def _memories(net, weights):
    """Every core's synapse memory of ``net`` compiled with ``weights`` per projection."""
    net = copy.deepcopy(net)
    for proj, w in zip(net.projections, weights, strict=True):
        proj.weight = np.asarray(w, dtype=np.int8)
    image, _ = compile_network(net, auto_chip(net))
    return [np.asarray(c.syn_weight) for c in image.cores]


@pytest.mark.parametrize("seed", range(20))
def test_image_learns_what_golden_learns(seed):
    net = random_plastic_net(seed)
    image, _ = compile_network(net, auto_chip(net))
    image = ChipImage.from_bytes(image.to_bytes())  # through the file format
    g = run_golden(net, 200)
    r = PlasticImageModel(image).run(200, net.input_raster(200))
    assert g.diff(r) == []  # spikes, u/v traces, final state
    for key in ("pre_trace", "post_trace"):
        np.testing.assert_array_equal(g.extra[key], r.extra[key])
    for a, b in zip(_memories(net, g.extra["weights"]), r.extra["syn_weight"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_plastic_image_is_version_5_fixed_image_unchanged():
    net = random_plastic_net(4)
    image, _ = compile_network(net, auto_chip(net))
    assert int.from_bytes(image.to_bytes()[8:12], "little") == LEARNING_VERSION
    fixed = copy.deepcopy(net)
    for p in fixed.projections:
        p.plasticity = None
    f_img, _ = compile_network(fixed, auto_chip(fixed))
    assert f_img.learning is None
    assert int.from_bytes(f_img.to_bytes()[8:12], "little") == IMAGE_VERSION
    # The placement of a plastic network's fixed projections and neurons is the same.
    assert np.array_equal(f_img.neuron_slot, image.neuron_slot)


def test_learning_tables_are_checked():
    net = random_plastic_net(2)
    image, _ = compile_network(net, auto_chip(net))
    lt = next(x for x in image.learning if x.rev_syn.size)
    lt.rev_syn = lt.rev_syn[::-1].copy()  # each entry still names its own axon, but
    lt.rev_axon = lt.rev_axon[::-1].copy()  # the rows now list other neurons' synapses
    with pytest.raises(ImageError, match="reverse-index row lists a synapse of another neuron"):
        image.check()
    image, _ = compile_network(net, auto_chip(net))
    lt = next(x for x in image.learning if x.rev_syn.size)
    lt.learn_profiles = lt.learn_profiles.copy()
    lt.learn_profiles[0, 0] = 200
    with pytest.raises(ImageError, match=r"learning profile column a_plus outside 0\.\.127"):
        image.check()
