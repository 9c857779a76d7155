"""Fuzz target: the compiler (firmware/compiler.py) on random valid networks near capacity.

Chips with small cores (so that every limit is near) and networks sized around them: the
neuron count, synapses per core, fan-out, axons, profiles and accumulator range all land
on both sides of the core's capacity. A network must compile into an image that passes
its own checks and survives its file format, or be refused with a CompileError that says
what does not fit and what the core (or chip) holds.
"""

from __future__ import annotations

import re

import numpy as np
from hypothesis import strategies as st
from spikemesh.firmware.compiler import compile_network
from spikemesh.firmware.image import ChipImage

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import CompileError
from spikemesh.network import Network

from .harness import Target, expect_clean

chips = st.builds(
    lambda w, h, n, a, s, f, p, acc: ChipConfig(
        width=w,
        height=h,
        core=CoreConfig(neurons=n, axons=a, synapses=s, fanout=f, profiles=p, acc_bits=acc),
    ),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from([16, 32]),
    st.sampled_from([16, 32, 64]),
    st.sampled_from([16, 64, 128, 256, 512]),
    st.sampled_from([16, 32, 64, 256]),
    st.sampled_from([1, 2, 4]),
    st.sampled_from([16, 18, 20, 24]),
)


@st.composite
def near_capacity(draw):
    chip = draw(chips)
    c = chip.core
    total = max(1, int(chip.neurons * draw(st.sampled_from([0.3, 0.6, 0.9, 1.0, 1.05]))))
    total += draw(st.integers(-2, 2))
    total = max(1, total)
    n_pops = draw(st.integers(1, min(5, total)))
    cuts = []
    if total > 1:
        k = n_pops - 1
        cuts = sorted(
            draw(st.lists(st.integers(1, total - 1), min_size=k, max_size=k, unique=True))
        )
    sizes = np.diff([0, *cuts, total]).tolist()
    net = Network("near")
    names = []
    for k, size in enumerate(sizes):
        if size < 1:
            continue
        net.population(
            f"p{k}",
            int(size),
            vth=draw(st.sampled_from([10, 100, 100, 1000])),  # shared or not: the profile count
            dv=draw(st.sampled_from([0, 512])),
            refractory=draw(st.integers(0, 2)),
            record=draw(st.booleans()),
        )
        names.append(f"p{k}")
    if draw(st.booleans()):
        net.source("in", draw(st.integers(1, 40)), bernoulli=0.1, seed=1)
        names.append("in")
    # synapses per core land around the core's memory: fanout x pre / tiles
    per_core = c.synapses * draw(st.sampled_from([0.25, 0.5, 0.9, 1.0, 1.2]))
    for k in range(draw(st.integers(0, 5))):
        pre = draw(st.sampled_from(names))
        post = draw(st.sampled_from([n for n in names if n != "in"]))
        n_post = net[post].size
        kind = draw(st.sampled_from(["fixed_fanout", "fixed_probability", "all_to_all",
                                     "one_to_one"]))  # fmt: skip
        w = draw(st.sampled_from([1, 60, 127, -128, {"uniform": [-128, 128], "seed": 3}]))
        kw = {"weight": w, "weight_exp": draw(st.integers(0, 7))}
        avail = n_post - 1 if pre == post else n_post
        if kind == "one_to_one" and net[pre].size != n_post:
            kind = "all_to_all"
        if kind == "fixed_fanout":
            kw.update(fanout=min(avail, max(0, int(per_core / max(1, net[pre].size)))), seed=k)
        elif kind == "fixed_probability":
            kw.update(p=draw(st.sampled_from([0.05, 0.3, 1.0])), seed=k)
        net.connect(pre, post, connectivity=kind, **kw)
    options = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "neurons_per_core": st.integers(1, c.neurons),
                "host_outputs": st.sampled_from(["all", "recorded", "none", ["p0"]]),
            },
        )
    )
    return net, chip, options


# Every refusal says what is short, with numbers: "core (x,y) needs N ..., the core holds M",
# "the network has N neurons, the chip holds M", "... accumulator holds lo..hi".
REFUSAL = re.compile(
    r"(needs [\d,]+ .*the core holds [\d,]+|the chip holds [\d,]+|holds -?[\d,]+\.\.)"
)


def check_compile(inp):
    net, chip, options = inp
    out = expect_clean(compile_network, net, chip, **options)
    if isinstance(out, Exception):
        assert isinstance(out, CompileError), repr(out)
        assert REFUSAL.search(str(out)), f"refusal without the limit: {out}"
        return out
    image, util = out
    image.check()
    for name in util.RESOURCES:
        assert getattr(util, name).max(initial=0) <= util.capacity(name)
    assert ChipImage.from_bytes(image.to_bytes()) == image
    return None


TARGETS = [Target("compiler", near_capacity(), check_compile, ci_examples=60, timeout=60)]
