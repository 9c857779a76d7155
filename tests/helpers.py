"""Shared helpers for tests on Amaranth's simulator (async testbenches, Amaranth 0.5)."""

from amaranth.sim import Simulator


async def stream_put(ctx, stream, payload):
    """Offer one payload on a stream (driving valid) and wait for the transfer."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Accept one payload from a stream (driving ready) and return it."""
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


def run_sim(dut, *testbenches, processes=(), vcd=None, deadline=None):
    """Simulate ``dut`` on a 100 MHz clock with the given async testbenches."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for tb in testbenches:
        sim.add_testbench(tb)
    for p in processes:
        sim.add_process(p)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run_until(deadline) if deadline else sim.run()
    else:
        sim.run_until(deadline) if deadline else sim.run()


def assert_mesh_matches(ctx, dut, model, ins, outs, cyc, *, misroute=False):
    """The RTL mesh's outputs this cycle (Amaranth simulator ``ctx``) equal its twin's: every
    port's valid, payload (while valid) and input ready, the flit counters and idle.
    Returns the twin's (valid, payload, ready) lists."""
    mv, mp, mr = model.outputs()
    for k in range(len(outs)):
        v = ctx.get(outs[k].valid)
        assert v == mv[k], (cyc, k, "o_valid")
        if v:
            assert ctx.get(outs[k].payload.as_value()) == mp[k], (cyc, k, "payload")
        assert ctx.get(ins[k].ready) == mr[k], (cyc, k, "i_ready")
    assert ctx.get(dut.flits_in) == model.flits_in
    assert ctx.get(dut.flits_out) == model.flits_out
    assert ctx.get(dut.dropped) == model.dropped
    if misroute:
        assert ctx.get(dut.misroute) == model.misroute
    assert ctx.get(dut.idle) == model.idle
    return mv, mp, mr


def assert_python_models_agree(chip, net, img, g, ticks, what):
    """Every Python model of the chip equals golden's result ``g`` on ``net``: the scalar
    reference, the functional TLM (from the network and from the image ``img``), and both
    timed models — the Python cycle model and the compiled one giving the same response
    words on the same cycles — with the image written over the host link and placed
    directly."""
    from spikemesh.firmware.loader import (
        config_commands,
        decode_run,
        read_state_commands,
        run_commands,
    )
    from spikemesh.sim.chip import ChipModel, TimedChipModel
    from spikemesh.sim.fast import run_fast
    from spikemesh.sim.timed import CompiledChipModel

    from tests.scalar_ref import run_scalar

    acc_bits = chip.core.acc_bits
    s = run_scalar(net, ticks, acc_bits=acc_bits)
    assert (s.spikes == g.spikes).all() and (s.final_v == g.final_v).all(), what
    assert g.diff(run_fast(net, ticks, acc_bits=acc_bits)) == [], what
    inputs = net.input_raster(ticks)
    assert g.diff(ChipModel(img).run(ticks, inputs)) == [], what
    run = run_commands(img, inputs, ticks) + read_state_commands(img)
    cmds = config_commands(img) + run
    ref = TimedChipModel(chip).run(cmds)
    assert CompiledChipModel(chip).run(cmds) == ref, what
    timed = decode_run(img, [r[1:] for r in ref], ticks, inputs, backend="tlm-timed")
    assert g.diff(timed) == [], what
    py = TimedChipModel(chip)
    py.load_image(img)
    ref_d = py.run(run)
    m = CompiledChipModel(chip)
    m.load_image(img)
    assert m.run(run) == ref_d, f"{what}, direct load"
    direct = decode_run(img, [r[1:] for r in ref_d], ticks, inputs, backend="tlm-timed")
    assert g.diff(direct) == [], f"{what}, direct load"
