"""Fault maps at chip level on the timed models (docs/noc.md, "Faults"): route tables written
through the host link's ROUTE region, the compiled model equal to the Python twins on every
response, golden's spikes on a faulty chip, and the ROUTE writes' argument limits."""

from __future__ import annotations

import numpy as np
import pytest
from spikemesh.firmware import compile_network
from spikemesh.firmware.loader import command, route_commands
from spikemesh.sim._timed_noc import topology
from spikemesh.sim.chip import TimedChipModel
from spikemesh.sim.timed import CompiledChipModel, run_image_timed

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import SpikemeshError
from spikemesh.faults import FaultMap, with_route_tables
from spikemesh.golden import run_golden
from spikemesh.hostlink import Cmd, CommandCheck, ErrorFlag, Rsp, StatusReg
from spikemesh.layouts import (
    ROUTE_REGION,
    RouteIndex,
    config_data_bits,
    config_index_bits,
    region_layouts,
    route_config_word,
    route_entry_layout,
)
from tests.firmware.random_nets import random_network

CORE = CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, profiles=4)
PLAIN = ChipConfig(width=3, height=3, core=CORE)
CHIP = with_route_tables(PLAIN)
TICKS = 25

# (label, fault map): random dead links, and a dead router with a one-way link
FAULTS = {
    "links": lambda: FaultMap.random(CHIP, seed=3, links=3),
    "router": lambda: FaultMap.from_dict(
        {"routers": [[1, 1]], "links": [{"x": 0, "y": 2, "port": "east", "one_way": True}]},
        chip=CHIP,
    ),
}


def faulty_image(label, seed=3):
    """A random network spread 4 neurons per core (traffic between most tiles)."""
    net = random_network(seed, max_neurons=60, recurrent=True)
    img, _ = compile_network(net, CHIP, faults=FAULTS[label](), neurons_per_core=4)
    assert img.routing is not None
    return net, img


@pytest.mark.parametrize("label", sorted(FAULTS))
def test_faulty_chip_equivalence(label):
    """Golden's spikes on the faulty chip; the compiled model and the Python twins give the
    same responses on the same cycles, with the image loaded directly or over the host link
    (route tables over the host link either way)."""
    net, img = faulty_image(label)
    inputs = net.input_raster(TICKS)
    gold = run_golden(net, TICKS, acc_bits=CORE.acc_bits)
    res, rsp = run_image_timed(img, inputs, TICKS)
    assert gold.diff(res) == []
    assert res.spikes.any()
    _, rsp_py = run_image_timed(img, inputs, TICKS, model="python")
    assert np.array_equal(rsp, np.array(rsp_py))
    host, _ = run_image_timed(img, inputs, TICKS, load="hostlink")
    assert np.array_equal(host.cycles, res.cycles) and gold.diff(host) == []


def test_route_writes_load_the_tables_in_both_models():
    """After the image's ROUTE writes every router's table and link_off equal the image's
    (the Python mesh's routers, the compiled model's topology table)."""
    _, img = faulty_image("router")
    cmds = route_commands(img)
    assert cmds and all(c["op"] == Cmd.CONFIG_WRITE for c in cmds)
    py = TimedChipModel(CHIP)
    py.run(cmds)
    comp = CompiledChipModel(CHIP)
    rsp = comp.run(cmds)
    assert rsp == []
    assert py.mesh.link_off == [int(b) for b in img.routing.link_off]
    for k, r in enumerate(py.mesh._flat):
        assert r._table == img.routing.table[k].tolist(), f"router {k}"
    assert np.array_equal(comp.nbr, topology(CHIP, img.routing))


def test_faults_change_the_cycles_not_the_spikes():
    """The detours cost cycles (so the tables are in use): the dead router's chip takes more
    cycles than the fault-free one for the same network, with golden's spikes on both."""
    net = random_network(3, max_neurons=60, recurrent=True)
    faults = FaultMap.from_dict({"routers": [[1, 1]]}, chip=CHIP)
    img, _ = compile_network(net, CHIP, faults=faults, neurons_per_core=4)
    dead_core = FaultMap(width=3, height=3, cores={(1, 1)})  # same placement, XY routes
    free, _ = compile_network(net, PLAIN, faults=dead_core, neurons_per_core=4)
    inputs = net.input_raster(TICKS)
    a, _ = run_image_timed(img, inputs, TICKS)
    b, _ = run_image_timed(free, inputs, TICKS)
    assert a.diff(b) == [] and a.spikes.any()
    assert (a.cycles != b.cycles).sum() > TICKS // 2 and a.cycles.sum() > b.cycles.sum()


def test_tables_without_writes_time_as_xy():
    """A chip with route tables and no ROUTE writes gives the responses of one without."""
    net = random_network(2, max_neurons=100, recurrent=True)
    a, _ = compile_network(net, PLAIN, neurons_per_core=16)
    b, _ = compile_network(net, CHIP, neurons_per_core=16)
    inputs = net.input_raster(TICKS)
    _, ra = run_image_timed(a, inputs, TICKS)
    _, rb = run_image_timed(b, inputs, TICKS)
    assert np.array_equal(ra, rb)


def test_image_with_tables_needs_a_chip_with_tables():
    net = random_network(1, max_neurons=60)
    img, _ = compile_network(net, PLAIN, faults=FAULTS["links"](), neurons_per_core=16)
    with pytest.raises(SpikemeshError, match=r"its chip has no route tables.*route_tables: true"):
        route_commands(img)
    with pytest.raises(SpikemeshError, match=r"its chip has no route tables"):
        run_image_timed(img, net.input_raster(2), 2)


# --- ROUTE writes at their limits -----------------------------------------------------------


def _write(chip, tile, index, data):
    ib = config_index_bits(chip)
    x, y = tile
    return command(Cmd.CONFIG_WRITE, tile_x=x, tile_y=y, arg=ROUTE_REGION << ib | index, data=data)


def route_argument_cases(chip):
    """(label, command, refused) for the ROUTE region of a chip with route tables: the last
    value of every argument accepted, the first past it refused."""
    ent = route_entry_layout(chip)
    top_entry = (1 << ent["entry"].width) - 1
    last = (chip.width - 1, chip.height - 1)
    table = lambda port, entry=top_entry: route_config_word(
        chip, RouteIndex.TABLE, port=port, entry=entry
    )[1]
    out = [
        ("TABLE last entry, port 4", _write(chip, last, 0, table(4)), False),
        ("TABLE port 5", _write(chip, (0, 0), 0, table(5, 0)), True),
        ("TABLE port 7", _write(chip, (0, 0), 0, table(7, 0)), True),
        ("TABLE data bit above", _write(chip, (0, 0), 0, 1 << ent.width), True),
        ("LINK_OFF all five", _write(chip, last, 1, 0b11111), False),
        ("LINK_OFF bit 5", _write(chip, (0, 0), 1, 1 << 5), True),
        ("index 2", _write(chip, (0, 0), len(RouteIndex), 0), True),
        ("index bit 1 of a TABLE write", _write(chip, (0, 0), 3, 0), True),
    ]
    if chip.width < 1 << chip.x_bits:
        out.append(("tile x = width", _write(chip, (chip.width, 0), 0, 0), True))
    if chip.height < 1 << chip.y_bits:
        out.append(("tile y = height", _write(chip, (0, chip.height), 1, 0), True))
    return out


def route_argument_stream(chip):
    """The cases, each followed by READ_STATUS ERRORS and RESET; then the labels and whether
    each is refused. A tick of traffic-free RUN first: a table chip runs ticks as before."""
    stream = [command(Cmd.RUN, arg=1), command(Cmd.END_TICK)]
    labels, refused = [], []
    for label, c, bad in route_argument_cases(chip):
        stream += [c, command(Cmd.READ_STATUS, arg=StatusReg.ERRORS), command(Cmd.RESET)]
        labels.append(label)
        refused.append(bad)
    return stream, labels, refused


def check_route_answers(responses, chip):
    _, labels, refused = route_argument_stream(chip)
    errors = [b for op, a, b in responses if op == Rsp.STATUS and a == StatusReg.ERRORS]
    assert len(errors) == len(labels)
    for label, bad, flags in zip(labels, refused, errors, strict=True):
        assert bool(flags & ErrorFlag.BAD_COMMAND) == bad, f"{label}: errors {flags}"


def test_route_arguments_at_their_limits_in_both_timed_models():
    stream, _, _ = route_argument_stream(CHIP)
    ref = TimedChipModel(CHIP).run(stream)
    check_route_answers([r[1:] for r in ref], CHIP)
    assert CompiledChipModel(CHIP).run(stream) == ref
    # without route tables, every ROUTE write is refused
    plain = TimedChipModel(PLAIN).run(stream)
    errors = [b for _, op, a, b in plain if op == Rsp.STATUS and a == StatusReg.ERRORS]
    assert all(e & ErrorFlag.BAD_COMMAND for e in errors)
    assert CompiledChipModel(PLAIN).run(stream) == plain


def test_route_check_reasons_and_array_form():
    chk = CommandCheck(CHIP)
    ib = config_index_bits(CHIP)
    a = ROUTE_REGION << ib
    w = route_entry_layout(CHIP).width
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, a, (31 << 3) | 4) is None
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, a, 5) == (
        "CONFIG_WRITE ROUTE TABLE port 5 is not a port (0 .. 4)"
    )
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, a, 1 << w) == (
        f"CONFIG_WRITE ROUTE TABLE data {1 << w:#x} has bits set above the {w}-bit word"
    )
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, a | 1, 1 << 5) == (
        "CONFIG_WRITE ROUTE LINK_OFF data 0x20 has bits set above the 5-bit word"
    )
    assert (
        chk.reason(Cmd.CONFIG_WRITE, 0, 0, a | 2, 0) == "CONFIG_WRITE ROUTE index 2 is not below 2"
    )
    assert chk.reason(Cmd.CONFIG_WRITE, 3, 0, a, 0) == "tile (3, 0) is outside the 3 x 3 mesh"
    assert CommandCheck(PLAIN).reason(Cmd.CONFIG_WRITE, 0, 0, a, 0) == (
        f"CONFIG_WRITE address {a:#x} names no region (region 7)"
    )
    # the vectorised form equals the scalar one, on ROUTE writes and every other region
    rng = np.random.default_rng(7)
    data_bits = config_data_bits(CHIP)
    rows = []
    for _ in range(4000):
        region = int(rng.choice([ROUTE_REGION] * 3 + [int(r) for r in region_layouts(CHIP)]))
        index = int(rng.choice([0, 1, 2, 3, int(rng.integers(0, 1 << ib))]))
        data = int(rng.integers(0, 1 << 62)) >> int(rng.integers(data_bits - 12, 62))
        rows.append(
            [int(Cmd.CONFIG_WRITE), int(rng.integers(0, 4)), int(rng.integers(0, 4)),
             region << ib | index, data]
        )  # fmt: skip
    for c in (chk, CommandCheck(PLAIN)):
        want = [c.ok(*r) for r in rows]
        assert c.ok_array(np.array(rows, dtype=np.int64)).tolist() == want
        assert 0.05 < np.mean(want) < 0.95


def test_route_tables_flag_is_a_bool():
    from spikemesh.config import RouterConfig
    from spikemesh.errors import ConfigError

    assert RouterConfig().route_tables is False
    assert ChipConfig.from_yaml(CHIP.to_yaml()) == CHIP
    with pytest.raises(ConfigError, match=r"route_tables must be true or false, not 1"):
        RouterConfig(route_tables=1)
