"""FanoutUnit: the twin of ``rtl/core_fanout.py::FanoutUnit`` (SQ -> walker -> RD -> o_flit).

Ports are attributes named as the RTL component's ports are in Verilog, registers
carry the RTL's signal names; per cycle: set the inputs, :meth:`comb`, :meth:`clock`.
The Moore outputs (``i_spike__ready``, ``o_flit__valid``, ``o_flit__payload``,
``idle``) are functions of the registers and always current.
"""

from __future__ import annotations

from spikemesh.config import KIND_HOST_OUT, KIND_SPIKE, ChipConfig, flit_layout, host_source_layout

from .core_words import FanoutWord, FanPtrWord, Spike

__all__ = ["FanoutUnit"]


class FanoutUnit:
    """Cycle-exact twin of the fan-out unit of the core at tile (``x``, ``y``).

    Inputs: ``i_spike__valid``, ``i_spike__payload`` (:class:`Spike`),
    ``fanout_rp__data`` (:class:`FanoutWord`), ``o_flit__ready``.
    Outputs: ``i_spike__ready``, ``o_flit__valid``, ``o_flit__payload`` (a packed flit),
    ``idle`` (Moore); ``fanout_rp__addr``/``__en`` (after :meth:`comb`).
    """

    def __init__(self, chip: ChipConfig, *, x: int, y: int):
        self._n_fanout = chip.core.fanout
        fl = flit_layout(chip)
        self._off = {f.name: fl.offsets[f.name] for f in fl.fields}
        hs = host_source_layout(chip)
        dx_mask = (1 << fl["dest_x"].width) - 1
        self._host_flit = (KIND_HOST_OUT << self._off["kind"]) | (
            (-1 & dx_mask) << self._off["dest_x"]  # dest_x = -1, dest_y = 0: the host
        )
        self._host_src = (x << hs.offsets["x"]) | (y << hs.offsets["y"])
        self.i_spike__valid = 0
        self.i_spike__payload = Spike(0, FanPtrWord(0, 0, 0))
        self.fanout_rp__data = FanoutWord(0, 0, 0)
        self.o_flit__ready = 0
        self.fanout_rp__addr = 0  # counts only while fanout_rp__en is high
        self.reset()
        self.comb()

    def spike_flit(self, x, y, axon) -> int:
        """The SPIKE flit of fan-out entry (x, y, axon)."""
        off = self._off
        return (
            (KIND_SPIKE << off["kind"])
            | (x << off["dest_x"])
            | (y << off["dest_y"])
            | (axon << off["payload"])
        )

    def host_flit(self, neuron) -> int:
        """The HOST_OUT flit of ``neuron`` (source address: neuron, this tile's y, x)."""
        return self._host_flit | ((self._host_src | neuron) << self._off["payload"])

    def reset(self):
        """Registers to their reset values."""
        none = FanPtrWord(0, 0, 0)
        self.sq_count = 0  # the spike queue: sq0 is its head
        self.sq0_idx, self.sq0_fp = 0, none
        self.sq1_idx, self.sq1_fp = 0, none
        self.fo_cnt = 0  # SPIKE entries still to issue
        self.fo_host = 0  # a HOST_OUT flit is still to issue (after the entries)
        self.fo_addr = 0
        self.fo_neuron = 0
        self.rd_valid = self.rd_host = self.rd_neuron = 0
        self.o_valid, self.o_payload = 0, 0
        self._moore()

    def _moore(self):
        self.i_spike__ready = int(self.sq_count != 2)
        self.o_flit__valid = self.o_valid
        self.o_flit__payload = self.o_payload
        self.idle = int(
            self.sq_count == 0
            and self.fo_cnt == 0
            and not self.fo_host
            and not self.rd_valid
            and not self.o_valid
        )

    def comb(self):
        """The outputs of this cycle that depend on the inputs."""
        if self.idle:
            self.fo_issue = self.fanout_rp__en = 0
            return
        self.o_load = not self.o_valid or self.o_flit__ready
        rd_free = not self.rd_valid or self.o_load
        fo_cnt = self.fo_cnt
        self.fo_issue = (fo_cnt != 0 or self.fo_host) and rd_free
        self.fanout_rp__addr = self.fo_addr
        self.fanout_rp__en = int(self.fo_issue and fo_cnt != 0)

    def clock(self):
        """The clock edge (after :meth:`comb` with this cycle's inputs)."""
        if self.idle:
            if self.i_spike__valid:  # the queue is empty: the spike goes to sq0
                spike = self.i_spike__payload
                self.sq0_idx, self.sq0_fp = spike.neuron, spike.fanptr
                self.sq_count = 1
                self._moore()
            return
        fo_cnt, fo_host, fo_issue = self.fo_cnt, self.fo_host, self.fo_issue
        fo_last = fo_host if fo_cnt == 0 else (fo_cnt == 1 and not fo_host)
        # Take the queue head in the cycle the current list issues its last item.
        fo_take = self.sq_count != 0 and ((fo_cnt == 0 and not fo_host) or (fo_issue and fo_last))
        sq_push = self.i_spike__valid and self.i_spike__ready
        if self.o_load:
            if self.rd_valid:
                if self.rd_host:
                    self.o_payload = self.host_flit(self.rd_neuron)
                else:
                    fw = self.fanout_rp__data
                    self.o_payload = self.spike_flit(fw.x, fw.y, fw.axon)
            self.o_valid = self.rd_valid
        self.rd_valid = int(fo_issue or (self.rd_valid and not self.o_load))
        if fo_issue:
            self.rd_host = int(fo_cnt == 0)
            self.rd_neuron = self.fo_neuron
        if fo_take:
            fp = self.sq0_fp
            self.fo_cnt, self.fo_host, self.fo_addr = fp.len, fp.host_out, fp.base
            self.fo_neuron = self.sq0_idx
        elif fo_issue:
            if fo_cnt:
                self.fo_cnt = fo_cnt - 1
                self.fo_addr = (self.fo_addr + 1) % self._n_fanout
            else:
                self.fo_host = 0
        # The queue: push only when not full, so push & pop happen with one entry.
        if sq_push:
            spike = self.i_spike__payload
        if fo_take and sq_push:
            self.sq0_idx, self.sq0_fp = spike.neuron, spike.fanptr
        elif fo_take:
            self.sq0_idx, self.sq0_fp = self.sq1_idx, self.sq1_fp
            self.sq_count -= 1
        elif sq_push:
            if self.sq_count == 0:
                self.sq0_idx, self.sq0_fp = spike.neuron, spike.fanptr
            else:
                self.sq1_idx, self.sq1_fp = spike.neuron, spike.fanptr
            self.sq_count += 1
        self._moore()
