"""Fault maps on the Verilated chip (docs/noc.md, "Faults"): the route tables go in as
CONFIG_WRITEs to the ROUTE region over the host link, and every response comes on the timed
models' cycle with golden's spikes; ROUTE writes at their limits answer as on the timed
models. One 3 x 3 build with router.route_tables (tests/sim/test_chip_faults.py's chip),
shared with tests/test_cli_faults.py's RTL run."""

from __future__ import annotations

import numpy as np
import pytest

from spikemesh.golden import run_golden
from tests.sim.test_chip_faults import CHIP, FAULTS, TICKS, faulty_image, route_argument_stream

TABLE_BUILD = pytest.mark.xdist_group("chip-3x3-n16-tables-build")


def _need_verilator():
    from tb.runner import require_simulator

    require_simulator("verilator")


def _expected(rsp):
    from spikemesh.hostlink import response_layout

    lay = response_layout()
    return [(int(c), lay.pack(op=int(op), a=int(a), b=int(b))) for c, op, a, b in rsp]


@pytest.mark.cocotb
@TABLE_BUILD
@pytest.mark.parametrize("label", sorted(FAULTS))
def test_faulty_chip_on_the_rtl_equals_the_timed_model(label):
    """Golden's spikes, and every response (route writes first, then the run and the
    read-back) on the compiled timed model's cycle."""
    from spikemesh.firmware.rtl_loader import run_image_rtl
    from spikemesh.sim.timed import run_image_timed

    _need_verilator()
    net, img = faulty_image(label)
    inputs = net.input_raster(TICKS)
    ref, rsp = run_image_timed(img, inputs, TICKS)
    res, _ = run_image_rtl(img, inputs, TICKS, expected=_expected(rsp))
    assert run_golden(net, TICKS, acc_bits=CHIP.core.acc_bits).diff(res) == []
    assert np.array_equal(res.cycles, ref.cycles)


@pytest.mark.cocotb
@TABLE_BUILD
def test_route_arguments_at_their_limits_on_the_rtl():
    """Accepted and refused (BAD_COMMAND) ROUTE writes answer on the timed models' cycles."""
    from spikemesh.firmware.rtl_loader import run_rtl
    from spikemesh.sim.chip import TimedChipModel

    from spikemesh.hostlink import command_layout
    from spikemesh.layouts import config_data_bits
    from tests.sim.test_chip_faults import check_route_answers

    _need_verilator()
    stream, _, _ = route_argument_stream(CHIP)
    ref = TimedChipModel(CHIP).run(stream)
    check_route_answers([r[1:] for r in ref], CHIP)
    lay = command_layout(CHIP, config_data_bits(CHIP))
    case = {"seed": "route", "words": [lay.pack(**c) for c in stream], "expected": _expected(ref)}
    run_rtl(CHIP, [case])  # raises, naming the first response off its cycle or value


@pytest.mark.cocotb
@pytest.mark.slow
@TABLE_BUILD
def test_cocotb_runner_on_a_faulty_chip():
    """The cocotb runner (its own Verilator build) answers the dead-router map's run on the
    timed model's cycles, the image loaded through the host link."""
    from spikemesh.firmware.rtl_loader import run_image_rtl
    from spikemesh.sim.timed import run_image_timed

    _need_verilator()
    net, img = faulty_image("router")
    inputs = net.input_raster(10)
    _, rsp = run_image_timed(img, inputs, 10, load="hostlink")
    res, _ = run_image_rtl(
        img, inputs, 10, runner="cocotb", load="hostlink", expected=_expected(rsp)
    )
    assert run_golden(net, 10, acc_bits=CHIP.core.acc_bits).diff(res) == []
