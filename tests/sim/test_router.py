"""RouterModel: route tables, round-robin, backpressure, cycle-for-cycle equality with the RTL."""

import random

import pytest
from spikemesh.rtl.router import Router
from spikemesh.sim.router import RouterModel

from spikemesh.config import ChipConfig, RouterConfig, flit_layout
from spikemesh.noc import N_PORTS, Port, route, rr_grant
from tests.helpers import run_sim

CHIP = ChipConfig(width=3, height=3)
LAY = flit_layout(CHIP)


def flit(dx, dy, payload=0):
    return LAY.pack(kind=0, dest_x=dx, dest_y=dy, payload=payload)


def step(model, offers=None, ready=(1,) * N_PORTS):
    """One cycle: offers = {port: word}; returns {port: word} sent this cycle."""
    ov, op, _ = model.outputs()
    sent = {p: op[p] for p in Port if ov[p] and ready[p]}
    iv, ip = [0] * N_PORTS, [0] * N_PORTS
    for p, w in (offers or {}).items():
        iv[p], ip[p] = 1, w
    model.clock(iv, ip, list(ready))
    return sent


@pytest.mark.parametrize("w,h", [(3, 3), (5, 2), (1, 4)])
def test_route_tables_match_route(w, h):
    chip = ChipConfig(width=w, height=h)
    lay = flit_layout(chip)
    for y in range(h):
        for x in range(w):
            m = RouterModel(chip, x=x, y=y)
            for dx in range(-(1 << chip.x_bits), 1 << chip.x_bits):
                for dy in range(1 << chip.y_bits):
                    word = lay.pack(kind=1, dest_x=dx, dest_y=dy, payload=3)
                    assert m.route(word) == route(x, y, dx, dy), (x, y, dx, dy)


def test_rr_grant():
    assert rr_grant(4, 0b11111) == 0
    assert rr_grant(0, 0b11111) == 1
    assert rr_grant(2, 0b00101) == 0
    assert rr_grant(2, 0b00100) == 2
    assert rr_grant(3, 0) is None


def test_zero_load_two_cycles_per_hop():
    m = RouterModel(CHIP, x=1, y=1)
    assert step(m, {Port.WEST: flit(2, 1, 9)}) == {}
    assert step(m) == {}
    assert step(m) == {Port.EAST: flit(2, 1, 9)}
    assert m.idle and m.flits_in == m.flits_out == 1


def test_round_robin_and_backpressure():
    m = RouterModel(CHIP, x=1, y=1)
    order = []
    blocked = [1, 1, 1, 1, 1]
    blocked[Port.LOCAL] = 0
    # All five inputs fill up while Local is blocked: 1 in the register + depth per FIFO.
    for _ in range(10):
        offers = {p: flit(1, 1, p) for p in Port if m.i_ready[p]}
        step(m, offers, blocked)
    assert m.i_ready == [0] * N_PORTS
    assert m.flits_in == 5 * CHIP.router.fifo_depth + 1
    for _ in range(40):
        order += [LAY.unpack(w)["payload"] for w in step(m).values()]
    assert order[0] == Port.LOCAL  # registered while blocked
    assert order[1:11] == [1, 2, 3, 4, 0] * 2
    assert len(order) == m.flits_in and m.idle


def test_init_wrong_xy():
    with pytest.raises(
        ValueError, match=r"^RouterModel y must be an integer between 0 and 2, not 7$"
    ):
        RouterModel(CHIP, x=0, y=7)
    with pytest.raises(TypeError, match=r"^RouterModel needs a ChipConfig, not 'chip'$"):
        RouterModel("chip", x=0, y=0)


@pytest.mark.parametrize("x,y,depth,seed", [(1, 1, 4, 1), (0, 0, 2, 2), (2, 1, 3, 3)])
def test_model_equals_rtl(x, y, depth, seed):
    """Random valid/payload/ready on all ports; every output compared in every cycle."""
    print(f"router ({x}, {y}) depth {depth} seed {seed}")
    chip = ChipConfig(width=3, height=3, router=RouterConfig(fifo_depth=depth))
    lay = flit_layout(chip)
    dut = Router(chip, x=x, y=y)
    model = RouterModel(chip, x=x, y=y)
    rng = random.Random(seed)

    def rand_flit():
        return lay.pack(
            kind=rng.randrange(2),
            dest_x=rng.randrange(-1, 3),
            dest_y=rng.randrange(3),
            payload=rng.randrange(1 << 8),
        )

    async def tb(ctx):
        iv, ip = [0] * N_PORTS, [0] * N_PORTS
        for cyc in range(1500):
            mv, mp, mr = model.outputs()
            for p in Port:
                assert ctx.get(dut.o[p].valid) == mv[p], (cyc, p)
                assert ctx.get(dut.i[p].ready) == mr[p], (cyc, p)
                if mv[p]:
                    assert ctx.get(dut.o[p].payload.as_value()) == mp[p], (cyc, p)
            assert ctx.get(dut.flits_in) == model.flits_in
            assert ctx.get(dut.flits_out) == model.flits_out
            assert ctx.get(dut.idle) == model.idle
            ready = [int(rng.random() < 0.6) for _ in Port]
            for p in Port:
                if not iv[p] and rng.random() < 0.5:
                    iv[p], ip[p] = 1, rand_flit()
                ctx.set(dut.i[p].valid, iv[p])
                ctx.set(dut.i[p].payload.as_value(), ip[p])
                ctx.set(dut.o[p].ready, ready[p])
            # A flit is taken when valid & ready in this cycle: read ready before
            # model.clock() updates the live list (the stream rule: a refused flit stays).
            taken = [iv[p] and mr[p] for p in Port]
            await ctx.tick()
            model.clock(iv, ip, ready)
            for p in Port:
                if taken[p]:
                    iv[p] = 0
        assert model.flits_out > 1000

    run_sim(dut, tb)


def test_overflow_raises_contract_error():
    """Writing into a full FIFO (ignoring i_ready) is the RTL's overflow assertion."""
    from spikemesh.noc import ContractError

    m = RouterModel(CHIP, x=1, y=1)
    for k in range(CHIP.router.fifo_depth):
        m.accept(Port.LOCAL, flit(2, 1, k))
    with pytest.raises(
        ContractError,
        match=r"^router \(1, 1\) LOCAL input: flit 0x[0-9a-f]+ written into a full FIFO "
        r"\(depth 4\): overflow",
    ):
        m.accept(Port.LOCAL, flit(2, 1, 9))


def test_round_robin_table_check_catches_a_bad_grant():
    from spikemesh.sim.router import _RR, check_rr_table

    from spikemesh.noc import ContractError

    check_rr_table(_RR)
    bad = [list(row) for row in _RR]
    bad[2][0b00101] = 1  # input 1 did not request
    with pytest.raises(ContractError, match=r"last 2, requests 00101 grant input 1"):
        check_rr_table(bad)
