"""Directed protocol cases of the host link's twin (the RTL equals it cycle by cycle:
tests/rtl/test_hostlink.py)."""

import itertools

import numpy as np
import pytest
from spikemesh.sim.hostlink import HostLinkModel

from spikemesh.config import ChipConfig
from spikemesh.hostlink import Cmd, CommandCheck, ErrorFlag, Rsp, StatusReg
from spikemesh.layouts import config_data_bits, region_layouts


def cmd(op, arg=0, tile_x=0, tile_y=0):
    return {"op": int(op), "tile_x": tile_x, "tile_y": tile_y, "arg": arg, "data": 0}


def drive(commands, *, cycles=200):
    """Run commands through the model with every neighbour ready and the chip always done."""
    m = HostLinkModel(ChipConfig())
    rsp, pos = [], 0
    for _ in range(cycles):
        inp = {
            "cmd_valid": int(pos < len(commands)),
            "cmd": commands[pos] if pos < len(commands) else None,
            "rsp_ready": 1,
            "cfg_ready": 1,
            "read_ready": 1,
            "inject_ready": 1,
            # a core answers a read-back on the cycle after it was asked
            "read_valid": int(m.read_outstanding),
            "read_u": 0,
            "read_v": 0,
            "host_valid": 0,
            "host_payload": 0,
            "all_done": 1,
            "flits_in": 0,
            "flits_out": 0,
            "misroute": 0,
        }
        o = m.clock(inp)
        if o["rsp_valid"]:
            rsp.append(o["rsp"])
        if inp["cmd_valid"] and o["cmd_ready"]:
            pos += 1
    return m, rsp, pos


@pytest.mark.parametrize("op", [Cmd.CONFIG_WRITE, Cmd.READ_STATE, Cmd.RUN, Cmd.RESET])
def test_command_before_end_tick_is_refused_not_hung(op):
    """Mid-tick (after an INPUT, before END_TICK) the tick cannot end, so waiting for it
    would hang the command stream: the command is refused (BAD_COMMAND) instead."""
    _m, rsp, pos = drive(
        [
            cmd(Cmd.RUN, 1),
            cmd(Cmd.INPUT, 2),
            cmd(op, 3),
            cmd(Cmd.END_TICK),
            cmd(Cmd.READ_STATUS, StatusReg.ERRORS),
        ]
    )
    assert pos == 5, "the command stream hung"
    assert (Rsp.TICK_DONE, 0) in [tuple(r[:2]) for r in rsp]
    assert (Rsp.STATUS, StatusReg.ERRORS, ErrorFlag.BAD_COMMAND) in rsp


@pytest.mark.parametrize("op", [Cmd.CONFIG_WRITE, Cmd.READ_STATE])
def test_config_and_reads_before_the_first_tick_starts_are_applied(op):
    """After RUN but before the tick starts is between ticks: applied, no error."""
    _m, rsp, pos = drive(
        [cmd(Cmd.RUN, 1), cmd(op, 3), cmd(Cmd.END_TICK), cmd(Cmd.READ_STATUS, StatusReg.ERRORS)]
    )
    assert pos == 4
    assert (Rsp.STATUS, StatusReg.ERRORS, 0) in rsp
    assert (Rsp.TICK_DONE, 0) in [tuple(r[:2]) for r in rsp]


def test_config_after_end_tick_waits_for_the_tick_and_is_applied():
    _m, rsp, pos = drive(
        [
            cmd(Cmd.RUN, 1),
            cmd(Cmd.END_TICK),
            cmd(Cmd.CONFIG_WRITE, 5),
            cmd(Cmd.READ_STATUS, StatusReg.ERRORS),
        ]
    )
    assert pos == 4
    assert rsp[-1] == (Rsp.STATUS, StatusReg.ERRORS, 0)


def test_inputs_without_run_are_refused():
    _m, rsp, pos = drive(
        [cmd(Cmd.INPUT, 1), cmd(Cmd.END_TICK), cmd(Cmd.READ_STATUS, StatusReg.ERRORS)]
    )
    assert pos == 3 and rsp[-1][2] == ErrorFlag.BAD_COMMAND


def test_tick_end_conservation_raises_in_the_model():
    """The twin of the RTL's tick-end assertion: a lost flit raises ContractError."""
    from spikemesh.noc import ContractError

    m = HostLinkModel(ChipConfig())
    base = {
        "cmd_valid": 0,
        "cmd": None,
        "rsp_ready": 1,
        "cfg_ready": 1,
        "read_ready": 1,
        "inject_ready": 1,
        "read_valid": 0,
        "read_u": 0,
        "read_v": 0,
        "host_valid": 0,
        "host_payload": 0,
        "all_done": 1,
        "flits_in": 3,
        "flits_out": 2,
        "misroute": 0,
    }
    with pytest.raises(ContractError, match=r"tick 0 ended with flits_in 3 != flits_out 2"):
        for c in [cmd(Cmd.RUN, 1), cmd(Cmd.END_TICK)] + [None] * 6:
            m.clock(dict(base, cmd_valid=int(c is not None), cmd=c))


# ---- arguments at their limits (docs/hostlink.md, "Arguments") ------------------------------


def argument_cases(chip):
    """(label, command, refused) for every checked argument: the last value accepted and the
    first refused (tile, axon, neuron, status register, config region/index/data/address).
    INPUT cases come first: they run a tick, before any CONFIG_WRITE has changed a memory."""
    chk = CommandCheck(chip)
    w, h = chip.width, chip.height
    out = [
        ("INPUT last axon", cmd(Cmd.INPUT, chk.axons - 1, w - 1, h - 1), False),
        ("INPUT axon = axons", cmd(Cmd.INPUT, chk.axons), True),
        ("READ_STATE last neuron", cmd(Cmd.READ_STATE, chk.neurons - 1, w - 1, h - 1), False),
        ("READ_STATE neuron = neurons", cmd(Cmd.READ_STATE, chk.neurons), True),
        ("READ_STATUS last register", cmd(Cmd.READ_STATUS, len(StatusReg) - 1), False),
        ("READ_STATUS register = count", cmd(Cmd.READ_STATUS, len(StatusReg)), True),
    ]
    if w < 1 << chip.x_bits:
        out.append(("READ_STATE tile x = width", cmd(Cmd.READ_STATE, 0, w, 0), True))
    if h < 1 << chip.y_bits:
        out.append(("INPUT tile y = height", cmd(Cmd.INPUT, 0, 0, h), True))
    ib, data_bits = chk.index_bits, config_data_bits(chip)
    for region in region_layouts(chip):  # a learning core has more regions
        depth, bits = chk.region_depth[region], chk.region_bits[region]
        top = (1 << bits) - 1  # every bit of the region's word set
        write = lambda index, data, r=region: dict(
            cmd(Cmd.CONFIG_WRITE, r << ib | index), data=data
        )
        out.append((f"CONFIG_WRITE {region.name} last index", write(depth - 1, top), False))
        if depth < 1 << ib:
            out.append((f"CONFIG_WRITE {region.name} index = depth", write(depth, 0), True))
        if bits < data_bits:
            out.append((f"CONFIG_WRITE {region.name} data bit {bits}", write(0, 1 << bits), True))
    out.append(("CONFIG_WRITE region 7", cmd(Cmd.CONFIG_WRITE, 7 << ib), True))
    out.append(("CONFIG_WRITE address bit", cmd(Cmd.CONFIG_WRITE, 1 << chk.addr_bits), True))
    return out


def argument_stream(chip):
    """The commands of :func:`argument_cases`, each followed by READ_STATUS ERRORS (an INPUT
    inside RUN 1 ... END_TICK) and RESET (which clears the flag); and the labels, and
    whether each case must be refused, in the order of the ERRORS answers."""
    stream, labels, refused = [], [], []
    for label, c, bad in argument_cases(chip):
        body = [cmd(Cmd.RUN, 1), c, cmd(Cmd.END_TICK)] if c["op"] == Cmd.INPUT else [c]
        stream += [*body, cmd(Cmd.READ_STATUS, StatusReg.ERRORS), cmd(Cmd.RESET)]
        labels.append(label)
        refused.append(bad)
    return stream, labels, refused


def check_argument_answers(responses, chip):
    """Every case of :func:`argument_stream` was refused (BAD_COMMAND) exactly when it must
    be; ``responses`` are (op, a, b) triples."""
    _, labels, refused = argument_stream(chip)
    errors = [b for op, a, b in responses if op == Rsp.STATUS and a == StatusReg.ERRORS]
    assert len(errors) == len(labels)
    for label, bad, flags in zip(labels, refused, errors, strict=True):
        assert bool(flags & ErrorFlag.BAD_COMMAND) == bad, f"{label}: errors {flags}"


def test_arguments_at_their_limits():
    """The last value of every argument is accepted, the first past it refused: never
    truncated onto another tile, axon, neuron, register or memory word."""
    chip = ChipConfig()
    stream, _, _ = argument_stream(chip)
    _m, rsp, pos = drive(stream, cycles=2000)
    assert pos == len(stream)
    check_argument_answers([tuple(r) for r in rsp], chip)
    # an accepted READ_STATE answers, a refused one does not
    assert sum(r[0] == Rsp.STATE for r in rsp) == 1


def test_command_check_reasons_and_array_form():
    chip = ChipConfig()
    chk = CommandCheck(chip)
    assert chk.reason(Cmd.INPUT, 0, 0, 256, 0) == (
        "INPUT axon 256 is not below the core's 256 axons"
    )
    assert chk.reason(Cmd.READ_STATE, 2, 0, 0, 0) == "tile (2, 0) is outside the 2 x 2 mesh"
    assert chk.reason(Cmd.READ_STATUS, 0, 0, 7, 0) == "READ_STATUS register 7 is not below 7"
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, 7 << 10, 0) == (
        "CONFIG_WRITE address 0x1c00 names no region (region 7)"
    )
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, 64, 0) == (
        "CONFIG_WRITE NEURON index 64 is not below its depth 64"
    )
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, 1 << 13, 0) == (
        "CONFIG_WRITE address 0x2000 does not fit the 13-bit config address"
    )
    # the profile word is 62 bits since reset modes (bit 61: reset)
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, 1 << 10, 1 << 61) is None
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, 1 << 10, 1 << 62) == (
        "CONFIG_WRITE PROFILE data 0x4000000000000000 has bits set above the 62-bit word"
    )
    assert chk.reason(14, 0, 0, 0, 0) == "opcode 14 is not a command (0 .. 10)"
    with pytest.raises(TypeError, match="CommandCheck needs a ChipConfig"):
        CommandCheck({"width": 2})
    # the vectorised form (the compiled model's) equals the scalar one (the Python twin's)
    rng = np.random.default_rng(5)
    rows = [list(c.values()) for _, c, _ in argument_cases(chip)]
    rows += [
        [
            int(rng.integers(0, 16)),
            int(rng.integers(0, 4)),
            int(rng.integers(0, 4)),
            int(rng.choice([rng.integers(0, 300), rng.integers(0, 1 << 14)])),
            int(rng.integers(0, 1 << 62)) >> int(rng.integers(0, 62)),
        ]
        for _ in range(3000)
    ]
    want = [chk.ok(*r) for r in rows]
    assert chk.ok_array(np.array(rows, dtype=np.int64)).tolist() == want
    assert 0.2 < np.mean(want) < 0.8


def test_all_done_is_ignored_while_the_start_settles():
    """start and all_done pass through a register each (rtl/chip.py): after the start cycle
    the host link ignores all_done for START_SETTLE cycles, so a chip that reads done all
    along still takes START_SETTLE + 1 cycles per tick."""
    from spikemesh.hostlink import START_SETTLE

    _m, rsp, _pos = drive([cmd(Cmd.RUN, 2), cmd(Cmd.END_TICK), cmd(Cmd.END_TICK)])
    done = [r for r in rsp if r[0] == Rsp.TICK_DONE]
    assert done == [(Rsp.TICK_DONE, 0, START_SETTLE + 1), (Rsp.TICK_DONE, 1, START_SETTLE + 1)]


def _counter_run(commands, *, cycles=40, chip=None, own=(0, 0)):
    """READ_COUNTERs through the twin of a chip with counters, the chip's registered value
    (``counter_value``) = the cycle number, the host link's host_injected and cycles preset
    to ``own``: returns the model and [(cycle executed, cycle offered, response)]."""
    m = HostLinkModel(chip or ChipConfig(counter_bits=24))
    m.host_injected, m.cycles_total = own
    done, out, pos = [], [], 0
    for cycle in range(cycles):
        inp = {
            "cmd_valid": int(pos < len(commands)),
            "cmd": commands[pos] if pos < len(commands) else None,
            "rsp_ready": 1,
            **dict.fromkeys(("cfg_ready", "read_ready", "inject_ready", "all_done"), 1),
            **dict.fromkeys(("read_valid", "read_u", "read_v", "host_valid"), 0),
            **dict.fromkeys(("host_payload", "flits_in", "flits_out", "misroute"), 0),
            "counter_value": cycle,
            "counter_wrapped": 0,
        }
        executing = m.cmd is not None and m.cmd["op"] == Cmd.READ_COUNTER
        o = m.clock(inp)
        if executing and o["cmd_done"] and not o["bad_cmd"]:
            done.append(cycle)
        if o["rsp_valid"] and o["rsp"][0] == Rsp.COUNTER:
            out.append((done[len(out)], cycle, o["rsp"]))
        if inp["cmd_valid"] and o["cmd_ready"]:
            pos += 1
    return m, out


def test_read_counter_cycles_as_documented():
    """docs/counters.md: executed in c, the value the chip registered in c + 2 (the host
    link's input in c + 3) is latched at the end of c + 3 and offered from c + 5 (the
    response register loads at the end of c + 4); back-to-back reads one per 5 cycles."""
    m, out = _counter_run([cmd(Cmd.READ_COUNTER, k, tile_x=1) for k in (3, 11, 0)])
    for c, offered, (op, _index, value) in out:
        assert (op, offered, value) == (Rsp.COUNTER, c + 5, c + 3)
    assert [r[1] for _, _, r in out] == [3, 11, 0]
    assert [b[0] - a[0] for a, b in itertools.pairwise(out)] == [5, 5]
    assert m.cnt_sel == (1, 0, 0) and not m.counter_busy


def test_read_counter_own_registers_and_refusals():
    """Index 16 / 17 answer the host link's own host_injected / cycles (whatever the chip's
    value); index 18, a tile off the mesh, or a chip without counters: BAD_COMMAND and no
    answer."""
    _m, out = _counter_run(
        [cmd(Cmd.READ_COUNTER, 16), cmd(Cmd.READ_COUNTER, 17, tile_x=1)], own=(41, 1234)
    )
    assert [r for _, _, r in out] == [(Rsp.COUNTER, 16, 41), (Rsp.COUNTER, 17, 1234)]
    refused = [
        cmd(Cmd.READ_COUNTER, 18),
        cmd(Cmd.READ_COUNTER, 0, tile_x=2),
        cmd(Cmd.READ_COUNTER, 0, tile_y=2),
    ]
    for chip, cmds in (
        (ChipConfig(counter_bits=24), refused),
        (ChipConfig(), [cmd(Cmd.READ_COUNTER, 0)]),
    ):
        m, out = _counter_run(cmds, chip=chip)
        assert out == [] and m.errors == ErrorFlag.BAD_COMMAND


def test_learning_commands_checks():
    """LEARN_FLUSH / READ_LEARNED: refused (named) without learning; on a learning chip the
    4-bit region field, READ_LEARNED of SYNAPSE / PRETRACE / POSTTRACE words only, below
    their depths; the array form agrees."""
    import dataclasses

    from spikemesh.config import CoreConfig
    from spikemesh.layouts import Region, config_addr, config_index_bits

    assert CommandCheck(ChipConfig()).reason(Cmd.LEARN_FLUSH, 0, 0, 0, 0) == (
        "LEARN_FLUSH on a chip built without learning (CoreConfig.learning_profiles = 0)"
    )
    chip = dataclasses.replace(
        ChipConfig(), core=CoreConfig(neurons=16, axons=32, synapses=64, learning_profiles=2)
    )
    chk = CommandCheck(chip)
    ib = config_index_bits(chip)
    assert chk.addr_bits == 4 + ib
    assert chk.reason(Cmd.LEARN_FLUSH, 0, 0, 0, 0) is None
    syn, post = config_addr(chip, Region.SYNAPSE, 63), config_addr(chip, Region.POSTTRACE, 15)
    assert chk.reason(Cmd.READ_LEARNED, 1, 1, syn, 0) is None
    assert chk.reason(Cmd.READ_LEARNED, 0, 0, post, 0) is None
    assert chk.reason(Cmd.READ_LEARNED, 0, 0, post + 1, 0) == (
        "READ_LEARNED POSTTRACE index 16 is not below its depth 16"
    )
    assert chk.reason(Cmd.READ_LEARNED, 0, 0, 12 << ib, 0) == (
        f"READ_LEARNED address {12 << ib:#x} is in region 12, not one of SYNAPSE, PRETRACE, "
        "POSTTRACE"
    )
    assert chk.reason(Cmd.READ_LEARNED, 2, 0, 0, 0) == "tile (2, 0) is outside the 2 x 2 mesh"
    assert "does not fit the" in chk.reason(Cmd.READ_LEARNED, 0, 0, 1 << (ib + 4), 0)
    assert chk.reason(Cmd.CONFIG_WRITE, 0, 0, config_addr(chip, Region.REVERSE, 0), 0) is None
    rng = np.random.default_rng(3)
    rows = [
        [
            int(rng.choice([Cmd.LEARN_FLUSH, Cmd.READ_LEARNED, Cmd.CONFIG_WRITE])),
            int(rng.integers(0, 3)),
            int(rng.integers(0, 3)),
            (int(rng.integers(0, 16)) << ib) | int(rng.integers(0, 80)),
            int(rng.integers(0, 1 << 20)),
        ]
        for _ in range(3000)
    ]
    want = [chk.ok(*r) for r in rows]
    assert chk.ok_array(np.array(rows, dtype=np.int64)).tolist() == want
    assert 0.2 < np.mean(want) < 0.8
