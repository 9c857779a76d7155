"""The neuron core's fan-out unit: a spiking neuron's fan-out list turned into flits (chip.md §7).

::

    i_spike ─► SQ ─────────► walker ──────► RD ──────────► o_flit
              spike queue   fan-out list   fanout_rp.data  flit register
              (2 entries)   (fanout_rp,    or HOST_OUT
                            one per cycle)

The walker takes the queue head in the cycle it issues the last item of the current
neuron, so back-to-back spikes give back-to-back flits: first the SPIKE flits of the
fan-out list, then the HOST_OUT flit (``dest_x = -1, dest_y = 0``, payload = neuron,
this tile's y and x) for an output neuron. RD -> ``o_flit`` is an elastic 2-register
pipeline: one flit per cycle with ``o_flit.ready = 1``; backpressure stops the walker
without loss or duplication. The twin is ``sim/core_fanout.py::FanoutUnit``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikemesh.config import KIND_HOST_OUT, KIND_SPIKE, flit_layout, host_source_layout
from spikemesh.layouts import Region

from .core_ports import check_component, read_port, spike_layout, word

__all__ = ["FanoutUnit"]


class FanoutUnit(wiring.Component):
    """Spike queue, fan-out walker and flit register of one core.

    Parameters
    ----------
    chip : ChipConfig
    x, y : int
        The tile; HOST_OUT flits carry it as the source address.

    Members
    -------
    i_spike : In(stream.Signature(spike_layout(chip)))
        A spiking neuron and its fan-out pointer word. ``ready`` = the queue is not
        full (Moore, a register compare: it is the update loop's only stall).
    fanout_rp : read port of the fan-out memory.
    o_flit : Out(stream.Signature(Flit))
        SPIKE and HOST_OUT flits; ``valid`` and ``payload`` are registers.
    idle : Out(1)
        Queue, walker, RD and ``o_flit`` are empty (registers only).
    """

    def __init__(self, chip, *, x, y):
        check_component(self, chip, (x, y))
        self.chip, self.x, self.y = chip, x, y
        super().__init__(
            {
                "i_spike": In(stream.Signature(spike_layout(chip))),
                "fanout_rp": read_port(chip, Region.FANOUT),
                "o_flit": Out(stream.Signature(flit_layout(chip).struct())),
                "idle": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        c = self.chip.core
        fp_shape = word(self.chip, Region.FANPTR)
        # The spike queue (SQ): push only when not full, so push & pop happen with one entry.
        sq_count = Signal(range(3))
        sq0_idx = Signal(c.neuron_bits)
        sq0_fp = Signal(fp_shape)
        sq1_idx = Signal(c.neuron_bits)
        sq1_fp = Signal(fp_shape)
        sq_push = Signal()
        # The walker and the two flit registers.
        fo_cnt = Signal(range(c.fanout + 1))  # SPIKE entries still to issue
        fo_host = Signal()  # a HOST_OUT flit is still to issue (after the entries)
        fo_addr = Signal(c.fanout_addr_bits)
        fo_neuron = Signal(c.neuron_bits)
        rd_valid = Signal()
        rd_host = Signal()
        rd_neuron = Signal(c.neuron_bits)
        o_valid = Signal()
        o_payload = Signal(flit_layout(self.chip).struct())

        o_load = Signal()
        rd_free = Signal()
        fo_issue = Signal()
        fo_last = Signal()
        fo_take = Signal()
        spike = self.i_spike
        m.d.comb += [
            spike.ready.eq(sq_count != 2),
            sq_push.eq(spike.valid & spike.ready),
            self.o_flit.valid.eq(o_valid),
            self.o_flit.payload.eq(o_payload),
            o_load.eq(~o_valid | self.o_flit.ready),
            rd_free.eq(~rd_valid | o_load),
            fo_issue.eq(((fo_cnt != 0) | fo_host) & rd_free),
            fo_last.eq(Mux(fo_cnt == 0, fo_host, (fo_cnt == 1) & ~fo_host)),
            # Take the queue head in the cycle the current list issues its last item.
            fo_take.eq((sq_count != 0) & (((fo_cnt == 0) & ~fo_host) | (fo_issue & fo_last))),
            self.fanout_rp.addr.eq(fo_addr),
            self.fanout_rp.en.eq(fo_issue & (fo_cnt != 0)),
            self.idle.eq((sq_count == 0) & (fo_cnt == 0) & ~fo_host & ~rd_valid & ~o_valid),
        ]
        with m.If(fo_take):
            m.d.sync += [
                fo_cnt.eq(sq0_fp.len),
                fo_host.eq(sq0_fp.host_out),
                fo_addr.eq(sq0_fp.base),
                fo_neuron.eq(sq0_idx),
            ]
        with m.Elif(fo_issue):
            with m.If(fo_cnt != 0):
                m.d.sync += [fo_cnt.eq(fo_cnt - 1), fo_addr.eq(fo_addr + 1)]
            with m.Else():
                m.d.sync += fo_host.eq(0)
        m.d.sync += rd_valid.eq(fo_issue | (rd_valid & ~o_load))
        with m.If(fo_issue):
            m.d.sync += [rd_host.eq(fo_cnt == 0), rd_neuron.eq(fo_neuron)]

        with m.If(fo_take & sq_push):
            m.d.sync += [sq0_idx.eq(spike.payload.neuron), sq0_fp.eq(spike.payload.fanptr)]
        with m.Elif(fo_take):
            m.d.sync += [sq0_idx.eq(sq1_idx), sq0_fp.eq(sq1_fp), sq_count.eq(sq_count - 1)]
        with m.Elif(sq_push):
            m.d.sync += sq_count.eq(sq_count + 1)
            with m.If(sq_count == 0):
                m.d.sync += [sq0_idx.eq(spike.payload.neuron), sq0_fp.eq(spike.payload.fanptr)]
            with m.Else():
                m.d.sync += [sq1_idx.eq(spike.payload.neuron), sq1_fp.eq(spike.payload.fanptr)]

        host_src = Signal(host_source_layout(self.chip).struct())
        m.d.comb += [host_src.neuron.eq(rd_neuron), host_src.x.eq(self.x), host_src.y.eq(self.y)]
        with m.If(o_load):
            m.d.sync += o_valid.eq(rd_valid)
            with m.If(rd_valid & rd_host):
                m.d.sync += [
                    o_payload.kind.eq(KIND_HOST_OUT),
                    o_payload.dest_x.eq(-1),
                    o_payload.dest_y.eq(0),
                    o_payload.payload.eq(host_src),
                ]
            with m.Elif(rd_valid):
                m.d.sync += [
                    o_payload.kind.eq(KIND_SPIKE),
                    o_payload.dest_x.eq(self.fanout_rp.data.x),
                    o_payload.dest_y.eq(self.fanout_rp.data.y),
                    o_payload.payload.eq(self.fanout_rp.data.axon),
                ]
        return m
