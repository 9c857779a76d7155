"""Shared NoC testbench plumbing for tb/router and tb/mesh.

The DUT is a router or a mesh behind ``spikemesh.firmware.rtl_mesh.Flatten``, which
makes all its endpoint streams a handful of packed vectors (one bit / one flit per
endpoint). The cocotb loop then touches six signals per cycle whatever the mesh size,
which keeps a cycle-by-cycle scoreboard affordable (toolchain.md: Python per cycle is
the bottleneck).

:class:`NocTB` is the testbench: random-idle drivers on every input, random
backpressure on every output, a monitor on every output, a per-(source,
destination) in-order scoreboard, and the cycle-exact twin (RouterModel or
MeshModel) driven with the very same per-cycle inputs, compared with the RTL's
registered outputs in every cycle.
"""

from __future__ import annotations

import random
from collections import deque


def random_mask(rng, n, p):
    """n independent bits, each 1 with probability p (p in quarters: 0, .25, .5, .75, 1)."""
    full = (1 << n) - 1
    if p >= 1:
        return full
    if p <= 0:
        return 0
    q = round(p * 4)
    if q == 2:
        return rng.getrandbits(n)
    if q == 1:
        return rng.getrandbits(n) & rng.getrandbits(n)
    return rng.getrandbits(n) | rng.getrandbits(n)


class NocTB:
    """Drivers, monitors, scoreboard and twin for a flattened router or mesh.

    Parameters
    ----------
    dut : cocotb handle of a :class:`Flatten` top level
    model : RouterModel or MeshModel (``outputs()`` / ``clock()`` on endpoint lists)
    n : int
        Endpoints.
    width : int
        Flit width.
    make_flit : callable(rng, src, seq_by_dst) -> (dst endpoint, flit word)
        Builds the next flit of source ``src``; the word encodes (src, sequence).
    src_of : callable(word) -> source endpoint
    seed, p_offer, p_ready : stimulus; p_* in quarters (see :func:`random_mask`)
    """

    def __init__(self, dut, model, *, n, width, make_flit, src_of, seed, p_offer, p_ready, log):
        self.dut, self.model, self.n, self.width = dut, model, n, width
        self.make_flit, self.src_of = make_flit, src_of
        self.rng = random.Random(seed)
        self.p_offer, self.p_ready = p_offer, p_ready
        self.log = log
        self.expected = {}  # (src, dst) -> deque of words in send order
        self.sent = 0
        self.received = 0
        self.cycle = 0
        self.latency_sum = 0
        self.refused = 0  # (cycle, endpoint) offers refused by a full input FIFO

    async def reset(self):
        from spikemesh.firmware.rtl_mesh import reset_flattened

        await reset_flattened(self.dut)

    async def run(self, n_flits, *, max_cycles):
        """Send ``n_flits`` flits in total, then drain; check every cycle against the twin."""
        from cocotb.triggers import FallingEdge

        dut, model, n, w = self.dut, self.model, self.n, self.width
        rng = self.rng
        fmask = (1 << w) - 1
        ends = range(n)
        i_valid = [0] * n
        i_payload = [0] * n
        o_ready = [0] * n
        sent_at = {}
        expected = self.expected
        src_of = self.src_of
        make_flit = self.make_flit
        seq = [dict() for _ in ends]
        i_dst = [0] * n
        fe = FallingEdge(dut.clk)
        holding = 0  # bit k: source k holds an offered flit
        to_send = n_flits
        cycle = 0
        while cycle < max_cycles:
            await fe
            # DUT registered outputs of this cycle (Moore: independent of our inputs).
            d_ov = dut.out_valid.value.to_unsigned()
            d_ir = dut.in_ready.value.to_unsigned()
            m_ov, m_op, m_ir = model.outputs()
            p_ov = 0
            p_ir = 0
            for k in ends:
                if m_ov[k]:
                    p_ov |= 1 << k
                if m_ir[k]:
                    p_ir |= 1 << k
            if p_ov != d_ov or p_ir != d_ir:
                raise AssertionError(
                    f"cycle {cycle}: RTL out_valid={d_ov:#x} in_ready={d_ir:#x}, "
                    f"model out_valid={p_ov:#x} in_ready={p_ir:#x}"
                )
            # Stimulus: new offers on idle sources, random backpressure.
            if to_send:
                new = random_mask(rng, n, self.p_offer) & ~holding
                while new and to_send:
                    k = (new & -new).bit_length() - 1
                    new &= new - 1
                    dst, word = make_flit(rng, k, seq[k])
                    i_valid[k] = 1
                    i_payload[k] = word
                    i_dst[k] = dst
                    holding |= 1 << k
                    to_send -= 1
            ready = random_mask(rng, n, self.p_ready)
            for k in ends:
                o_ready[k] = ready >> k & 1
            pay = 0
            for k in ends:
                if i_valid[k]:
                    pay |= i_payload[k] << (k * w)
            dut.in_valid.value = holding
            dut.in_payload.value = pay
            dut.out_ready.value = ready
            # Monitor: output transfers (checked against the scoreboard).
            got = d_ov & ready
            if got:
                d_op = dut.out_payload.value.to_unsigned()
                while got:
                    k = (got & -got).bit_length() - 1
                    got &= got - 1
                    word = (d_op >> (k * w)) & fmask
                    if word != m_op[k]:
                        raise AssertionError(
                            f"cycle {cycle}: endpoint {k} RTL flit {word:#x} != model {m_op[k]:#x}"
                        )
                    src = src_of(word)
                    q = expected.get((src, k))
                    if not q:
                        raise AssertionError(
                            f"cycle {cycle}: flit {word:#x} from {src} arrived at endpoint {k}, "
                            "which expects nothing from that source"
                        )
                    head = q.popleft()
                    if head != word:
                        raise AssertionError(
                            f"cycle {cycle}: endpoint {k} got {word:#x} from {src}, expected "
                            f"{head:#x} (lost, duplicated or reordered)"
                        )
                    self.latency_sum += cycle - sent_at.pop(word)
                    self.received += 1
            # Driver: input transfers; an offer refused means that input FIFO is full.
            full = holding & ~d_ir
            if full:
                self.refused += full.bit_count()
            acc = holding & d_ir
            if acc:
                while acc:
                    k = (acc & -acc).bit_length() - 1
                    acc &= acc - 1
                    word = i_payload[k]
                    expected.setdefault((k, i_dst[k]), deque()).append(word)
                    sent_at[word] = cycle
                    self.sent += 1
            model.clock(i_valid, i_payload, o_ready)
            for k in ends:
                if holding >> k & 1 and d_ir >> k & 1:
                    i_valid[k] = 0
            holding &= ~d_ir
            cycle += 1
            if not to_send and not holding and self.received == self.sent:
                break
        self.cycle = cycle
        left = sum(len(q) for q in expected.values())
        if left or to_send or holding:
            raise AssertionError(
                f"after {cycle} cycles: {left} flits never arrived, {to_send} not sent"
            )
