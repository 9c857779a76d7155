"""Directed protocol cases of the host link's twin (the RTL equals it cycle by cycle:
tests/rtl/test_hostlink.py)."""

import pytest
from spikemesh.sim.hostlink import HostLinkModel

from spikemesh.config import ChipConfig
from spikemesh.hostlink import Cmd, ErrorFlag, Rsp, StatusReg


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
