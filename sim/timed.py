"""The compiled timed chip model: TimedChipModel's responses, cycle for cycle, at compiled speed.

:class:`CompiledChipModel` takes the same host command stream as
``sim/chip.py::TimedChipModel`` (the Python cycle-level twins, cycle-exact with the RTL)
and returns the identical list of ``(cycle, op, a, b)`` responses. Its cycle loop is one
numba kernel over arrays of state (sim/_timed_kernels.py, with the cores in
sim/_timed_core.py, the mesh in sim/_timed_noc.py and the host link in
sim/_timed_host.py); the Python twins stay the readable specification and the oracle
that tests/sim/test_timed.py compares against, block by block and whole chip.

Loading: the image goes in through CONFIG_WRITE commands on the host link, as on the chip
(``load="hostlink"``), or straight into the memories before cycle 0 with
:meth:`CompiledChipModel.load_image` (``load="direct"``), which gives the same state, so
the same responses and cycles per tick for everything that follows.

Learning chips (``core.learning_profiles`` > 0, docs/learning.md): the learning cores'
memories, learning phase, depression and read-back are in sim/_timed_learn.py; LEARN_FLUSH
and READ_LEARNED run in the host link as on the chip. Their memories load over the host
link only (firmware/learned.py).

Hardware counters (``chip.counter_bits`` > 0, docs/counters.md): the registers are kept
cycle for cycle as the cycle contract says (``hc`` in sim/_timed_core.py), READ_COUNTER runs
its pipeline in the host link, :meth:`CompiledChipModel.counter_registers` and
``tick_registers`` give them as TimedChipModel does.
"""

from __future__ import annotations

import time

import numpy as np

from spikemesh import plasticity
from spikemesh.config import KIND_HOST_OUT, ChipConfig, flit_layout, host_source_layout
from spikemesh.coreimage import NPROF
from spikemesh.errors import ImageError, SpikemeshError
from spikemesh.faults import start_tables
from spikemesh.hostlink import Cmd, CommandCheck, Rsp
from spikemesh.layouts import config_addr_bits, config_index_bits, region_layouts

from . import (
    _compile_lock,
    _timed_cache,
    _timed_host,
    _timed_kernels,
    _timed_learn,
    _timed_noc,
    core_learn,
)
from . import _timed_core as K
from ._timed_core import config_write, core_tick
from ._timed_host import H_FIFO_DEPTH, H_LEN, H_TICK
from ._timed_kernels import (
    G_CYCLE,
    G_HELD,
    G_IDLE,
    G_ITER,
    G_LEN,
    G_LR_TILE,
    G_NTREG,
    G_POS,
    G_READER,
    ST_FULL,
    ST_MAX_CYCLES,
    ST_QUIET,
    ST_STUCK,
    ST_TICK,
    counter_registers,
    make_counters,
    make_scratch,
    run_chip,
)
from ._timed_learn import DATA_LO_BITS
from ._timed_noc import M_LEN, N_PORTS, mesh_run, topology
from .timed_commands import (
    _CMD_FIELDS,
    command_array,
    data_hi,
    read_state_array,
    run_command_array,
)

# numba would keep a cycle loop compiled from older helper sources (sim/_timed_cache.py);
# the learning kernels compile the rule's functions of plasticity.py and core_learn.py.
_timed_cache.flush_stale(
    (K, _timed_host, _timed_kernels, _timed_learn, _timed_noc, core_learn, plasticity)
)

__all__ = [
    "CompiledChipModel",
    "TimedRunError",
    "command_array",
    "read_state_array",
    "run_command_array",
    "run_image_timed",
]


class TimedRunError(SpikemeshError, RuntimeError):
    """A timed run did not finish within its cycle budget (a command stream that never
    closes its tick, or too small a ``max_cycles``)."""


def chip_params(chip: ChipConfig):
    """(pm, fl, depth): the chip's parameter vector, the config words' field table
    (region, field) -> (offset, width, signed), and each region's depth."""
    c = chip.core
    fl_ = flit_layout(chip)
    hs = host_source_layout(chip)
    pm = np.zeros(K.P_LEN, dtype=np.int64)
    pm[K.P_W], pm[K.P_H], pm[K.P_T] = chip.width, chip.height, chip.tiles
    pm[K.P_N], pm[K.P_NBITS] = c.neurons, c.neurons.bit_length() - 1
    pm[K.P_A], pm[K.P_S], pm[K.P_F], pm[K.P_NPROF] = c.axons, c.synapses, c.fanout, c.profiles
    pm[K.P_ACCBITS], pm[K.P_DEPTH] = c.acc_bits, chip.router.fifo_depth
    pm[K.P_PAY_OFF] = fl_.offsets["payload"]
    pm[K.P_PAY_MASK] = (1 << fl_["payload"].width) - 1
    pm[K.P_AXON_MASK] = (1 << c.axon_bits) - 1
    pm[K.P_DX_OFF], pm[K.P_DX_BITS] = fl_.offsets["dest_x"], fl_["dest_x"].width
    pm[K.P_DY_OFF], pm[K.P_DY_MASK] = fl_.offsets["dest_y"], (1 << fl_["dest_y"].width) - 1
    pm[K.P_KIND_OFF] = fl_.offsets["kind"]
    pm[K.P_HS_X_OFF], pm[K.P_HS_Y_OFF] = hs.offsets["x"], hs.offsets["y"]
    # HOST_OUT flits go to the host at dest_x = -1 (all ones in the signed field)
    pm[K.P_HOST_FLIT_BASE] = (KIND_HOST_OUT << fl_.offsets["kind"]) | (
        ((1 << fl_["dest_x"].width) - 1) << fl_.offsets["dest_x"]
    )
    pm[K.P_ADDR_MASK] = (1 << config_addr_bits(chip)) - 1
    pm[K.P_NEURON_MASK] = (1 << c.neuron_bits) - 1
    pm[K.P_INDEX_BITS] = config_index_bits(chip)
    pm[K.P_WATCHDOG] = chip.watchdog_cycles
    pm[K.P_XBITS], pm[K.P_YBITS] = chip.x_bits, chip.y_bits
    pm[K.P_BANKS], pm[K.P_DELAYBITS] = c.acc_banks, c.delay_bits
    pm[K.P_CMASK] = (1 << chip.counter_bits) - 1 if chip.counter_bits else 0
    pm[K.P_LEARN] = int(c.learning)
    pm[K.P_LPMASK] = max(c.learning_profiles - 1, 0)
    pm[K.P_R] = c.reverse_depth
    regions = region_layouts(chip)
    nfields = max(len(lay.fields) for lay, _ in regions.values())
    nreg = max(int(r) for r in regions) + 1  # a learning core's regions are 8..12
    fl = np.zeros((nreg, nfields, 3), dtype=np.int64)
    depth = np.zeros(nreg, dtype=np.int64)
    for r, (lay, dep) in regions.items():
        depth[int(r)] = dep
        for f, fld in enumerate(lay.fields):
            fl[int(r), f] = (lay.offsets[fld.name], fld.width, int(fld.signed))
    return pm, fl, depth


class CompiledChipModel:
    """The whole chip as one compiled cycle loop, equal to :class:`TimedChipModel`.

    Parameters
    ----------
    chip : ChipConfig
    fast : bool
        Take the proven shortcuts (sleeping update loops, clock jumps); ``False`` steps every
        running core every cycle (the reference path the shortcuts are tested against).

    Members
    -------
    cycle : int
        Cycles run since construction (like TimedChipModel.cycle).
    tick_registers : int64 [ticks, tiles * 16 + 2]
        With ``chip.counter_bits`` > 0: :meth:`counter_registers` at the end of every cycle
        a tick ended in (its TICK_DONE queued), for every tick ended since construction.
    """

    def __init__(self, chip: ChipConfig, *, fast: bool = True):
        if not isinstance(chip, ChipConfig):
            raise TypeError(f"CompiledChipModel needs a ChipConfig, not {chip!r}")
        self.chip = chip
        self.fast = bool(fast)
        c = chip.core
        t = chip.tiles
        self.pm, self.fl, self.depth = chip_params(chip)
        self.check = CommandCheck(chip)
        # u, v, ref, profile and a learning core's post "fired" bit (sim/_timed_learn.py)
        self.st = np.zeros((t, c.neurons, 5), dtype=np.int64)
        self.prof = np.zeros((t, c.profiles, NPROF), dtype=np.int64)  # PROFILE_COLUMNS
        self.ax = np.zeros((t, c.axons, 4), dtype=np.int32)  # base, len, exp, delay - 1
        # target, weight; a learning core's plastic, lprofile
        self.syn = np.zeros((t, c.synapses, 4), dtype=np.int32)
        # the learning cores' memories (lprof, pre, post, revptr, rev), sim/_timed_learn.py
        self.lm = _timed_learn.learning_memories(chip)
        self.fp = np.zeros((t, c.neurons, 3), dtype=np.int32)  # base, len, host_out
        self.fo = np.zeros((t, c.fanout, 3), dtype=np.int32)  # x, y, axon
        self.acc = np.zeros((t, c.acc_banks, c.neurons), dtype=np.int64)  # bank, neuron
        self.cr = np.zeros((t, K.CR_LEN), dtype=np.int64)
        self.cr[:, K.C_WAKE] = -1
        hs = host_source_layout(chip)
        for k in range(t):
            src = ((k % chip.width) << hs.offsets["x"]) | ((k // chip.width) << hs.offsets["y"])
            self.cr[k, K.C_HOST_FLIT] = self.pm[K.P_HOST_FLIT_BASE] | (src << self.pm[K.P_PAY_OFF])
        d = chip.router.fifo_depth
        # router.route_tables: XY tables in nbr's columns from TOPO_TABLE on, rewritten by
        # ROUTE writes over the host link (sim/_timed_noc.py::route_write)
        self.nbr = topology(chip, start_tables(chip))
        self.fifo = np.zeros((t, N_PORTS, d), dtype=np.int64)
        self.froute = np.zeros((t, N_PORTS, d), dtype=np.int8)
        self.fhead = np.zeros((t, N_PORTS), dtype=np.int64)
        self.fcnt = np.zeros((t, N_PORTS), dtype=np.int64)
        self.ov = np.zeros((t, N_PORTS), dtype=np.int64)
        self.op = np.zeros((t, N_PORTS), dtype=np.int64)
        self.last = np.full((t, N_PORTS), N_PORTS - 1, dtype=np.int64)
        self.ir = np.ones((t, N_PORTS), dtype=np.int64)
        self.rs = np.zeros((t, 3), dtype=np.int64)  # see sim/_timed_noc.py
        self.act = np.zeros(t, dtype=np.int64)
        self.mc = np.zeros(M_LEN, dtype=np.int64)
        self.h = np.zeros(H_LEN, dtype=np.int64)
        self.h[H_FIFO_DEPTH] = chip.host_fifo_depth
        # the command and response FIFOs: memory rows 0 .. depth - 2, output register last
        self.cq = np.zeros((chip.host_fifo_depth, 7), dtype=np.int64)
        self.rq = np.zeros((chip.host_fifo_depth, 3), dtype=np.int64)
        self.g = np.zeros(G_LEN, dtype=np.int64)
        self.g[G_READER] = -1
        self.g[G_LR_TILE] = -1
        self.scratch = make_scratch(t)
        # the hardware counters (docs/counters.md), zero on a chip without them
        self.hc = make_counters(t)
        self._treg = [np.zeros((0, t * 16 + 2), dtype=np.int64)]

    def counter_registers(self) -> np.ndarray:
        """int64 [tiles * 16 + 2]: the hardware counter registers now, in READ_COUNTER
        index order (tile t = y * width + x: t * 16 + k for HW_TILE_REGISTERS[k]; then
        host_injected, cycles); all zero on a chip built without counters."""
        return counter_registers(self.hc)

    @property
    def tick_registers(self) -> np.ndarray:
        """int64 [ticks, tiles * 16 + 2]: the registers as each tick ended (see Members)."""
        if len(self._treg) > 1:
            self._treg = [np.concatenate(self._treg)]
        return self._treg[0].copy()

    @property
    def cycle(self) -> int:
        return int(self.g[G_CYCLE])

    @property
    def stepped_cycles(self) -> int:
        """Cycles the loop stepped one by one; the others were jumped over in closed form."""
        return int(self.g[G_ITER])

    # --- loading ------------------------------------------------------------------------
    def load_image(self, image) -> None:
        """Place ``image`` in the memories (the state config_commands(image) leaves behind:
        what CoreModel.load does for each core). Call it before the first run."""
        image.check()
        if self.chip.core.learning:
            raise ImageError(
                "a learning chip's memories are loaded over the host link "
                "(firmware/learned.py learning_config_commands), not directly"
            )
        if image.chip != self.chip:
            raise ImageError(
                f"the image is compiled for a {image.chip.width} x {image.chip.height} chip "
                f"({image.chip.core.neurons} neurons per core), this model is "
                f"{self.chip.width} x {self.chip.height} ({self.chip.core.neurons})"
            )
        for k, ci in enumerate(image.cores):
            p = ci.profiles.shape[0]
            self.prof[k, :p] = ci.profiles
            ln = np.asarray(ci.axon_len)
            self.ax[k, :, 0] = np.where(ln != 0, ci.axon_base, 0)
            self.ax[k, :, 1] = ln
            self.ax[k, :, 2] = ci.axon_exp
            self.ax[k, :, 3] = np.asarray(ci.axon_delay) - 1
            s = ci.syn_target.size
            self.syn[k, :s, 0] = ci.syn_target
            self.syn[k, :s, 1] = ci.syn_weight
            f = ci.fan_x.size
            self.fo[k, :f, 0] = ci.fan_x
            self.fo[k, :f, 1] = ci.fan_y
            self.fo[k, :f, 2] = ci.fan_axon
            fl = np.asarray(ci.fan_len)
            self.fp[k, :, 0] = np.where(fl != 0, ci.fan_base, 0)
            self.fp[k, :, 1] = fl
            self.fp[k, :, 2] = np.asarray(ci.host_out).astype(bool)
            self.st[k, :, 0] = ci.u0
            self.st[k, :, 1] = ci.v0
            self.st[k, :, 2] = 0
            self.st[k, :, 3] = ci.profile_idx
        self.acc[:] = 0

    def core_state(self, tile: int):
        """(u, v, ref) of core ``tile`` as int64 arrays (copies)."""
        return tuple(self.st[tile, :, f].copy() for f in range(3))

    # --- running ------------------------------------------------------------------------
    def run(self, commands, *, max_cycles=10_000_000, on_tick=None, schedule=None):
        """Process ``commands`` until all are taken and the chip is quiet; return the list of
        (cycle, op, a, b) responses, equal to TimedChipModel.run's (``schedule``: the host's
        ready/valid schedule, firmware.loader.host_schedule; None: always).

        Raises TimedRunError when ``max_cycles`` (counted from construction, like
        TimedChipModel) is reached first.
        """
        rsp = self.run_array(commands, max_cycles=max_cycles, on_tick=on_tick, schedule=schedule)
        return [tuple(r) for r in rsp.tolist()]

    def _ok(self, cmds) -> np.ndarray:
        """CommandCheck.ok of every row; rows whose word may be 62 bits or wider (a learning
        profile's) are checked on their whole data in Python."""
        ok = self.check.ok_array(cmds[:, :5]).astype(np.int64)
        region = np.clip(cmds[:, 3] >> self.check.index_bits, 0, (1 << self.check.rbits) - 1)
        wide = np.asarray(self.check.region_bits, dtype=np.int64)[region] >= DATA_LO_BITS
        for r in np.flatnonzero(wide | (data_hi(cmds)[:, 0] != 0)).tolist():
            op, tx, ty, arg, data = (int(v) for v in cmds[r, :5])
            ok[r] = self.check.ok(
                op, tx, ty, arg, data | (int(data_hi(cmds)[r, 0]) << DATA_LO_BITS)
            )
        return ok

    def run_array(self, commands, *, max_cycles=10_000_000, on_tick=None, schedule=None):
        """:meth:`run`, the responses as an (N, 4) int64 array of (cycle, op, a, b)."""
        from spikemesh.firmware.loader import check_schedule

        if schedule is None:
            sv = sr = np.ones(1, dtype=np.int64)
        else:
            sv, sr = (a.astype(np.int64) for a in check_schedule(schedule))
        cmds = command_array(commands)
        # the host link's argument check, registered beside the command word (column 5), and
        # the data's bits 62.. (column 6)
        cmds = np.column_stack([cmds[:, :5], self._ok(cmds), data_hi(cmds)])
        self.g[G_POS] = 0  # a new stream
        self.g[G_IDLE] = 0
        self.g[G_HELD] = 0
        out = []
        cap = 4096
        n_reg = self.chip.tiles * 16 + 2
        while True:
            rsp = np.zeros((cap, 4), dtype=np.int64)
            treg = np.zeros((256 if self.chip.counter_bits else 0, n_reg), dtype=np.int64)
            self.g[G_NTREG] = 0
            status, n = _compile_lock.call(
                run_chip, self.pm, self.fl, self.depth, self.st, self.prof, self.ax, self.syn,
                self.fp, self.fo, self.acc, self.cr, self.nbr, self.fifo, self.froute, self.fhead,
                self.fcnt, self.ov, self.op, self.last, self.ir, self.rs, self.act, self.mc,
                self.h, self.cq, self.rq, self.g, self.scratch, cmds, sv, sr, rsp,
                int(max_cycles), self.fast,
                on_tick is not None, self.hc, treg, self.lm,
            )  # fmt: skip
            out.append(rsp[:n].copy())
            if self.g[G_NTREG]:
                self._treg.append(treg[: self.g[G_NTREG]].copy())
            if on_tick is not None:
                for t in rsp[:n][rsp[:n, 1] == Rsp.TICK_DONE, 2].tolist():
                    on_tick(t + 1)
            if status == ST_QUIET:
                return np.concatenate(out)
            if status == ST_MAX_CYCLES:
                raise TimedRunError(
                    f"the timed model ran {int(max_cycles):,} cycles without finishing "
                    f"({int(self.g[G_POS]):,} of {cmds.shape[0]:,} commands taken)"
                )
            if status == ST_STUCK:
                raise TimedRunError(
                    f"the command stream ends inside tick {int(self.h[H_TICK])} without its "
                    "END_TICK: the chip waits for it forever (cycle "
                    f"{self.cycle:,}, {cmds.shape[0]:,} commands taken)"
                )
            if status == ST_FULL:
                if n == cap:  # else the tick-end registers filled: a fresh block
                    cap = min(cap * 4, 1 << 22)
            elif status != ST_TICK:
                raise AssertionError(f"run_chip returned {status}")

    # --- block-level entry points (tests compare them with the Python twins) ------------
    def mesh_run(self, schedule, *, max_cycles=None):
        """MeshModel.run on the compiled mesh (every output always ready): ``schedule`` of
        (cycle, source endpoint, flit word) sorted by cycle; returns (arrivals, accepted)
        lists with None for flits not delivered (dropped off an edge, or out of cycles)."""
        from spikemesh.config import flit_layout as _fl

        n = len(schedule)
        tiles = self.chip.tiles
        tag = _fl(self.chip).width
        t_at = np.array([s[0] for s in schedule], dtype=np.int64).reshape(n)
        src = np.array([s[1] for s in schedule], dtype=np.int64).reshape(n)
        if n and (src.min() < 0 or src.max() > tiles):
            raise SpikemeshError(f"source endpoints must be between 0 and {tiles}")
        words = np.array(
            [(s[2] & ((1 << tag) - 1)) | (i << tag) for i, s in enumerate(schedule)],
            dtype=np.int64,
        ).reshape(n)
        order = np.argsort(src, kind="stable").astype(np.int64)
        first = np.searchsorted(src[order], np.arange(tiles + 2)).astype(np.int64)
        arrivals = np.full(n, -1, dtype=np.int64)
        accepted = np.full(n, -1, dtype=np.int64)
        ldrain, inj, mv, _, _ = self.scratch
        _compile_lock.call(
            mesh_run, self.pm, self.nbr, self.fifo, self.froute, self.fhead, self.fcnt, self.ov,
            self.op, self.last, self.ir, self.rs, self.act, self.mc, ldrain, inj, mv,
            t_at, words, order, first, np.zeros(tiles + 1, dtype=np.int64), tag, arrivals,
            accepted, (1 << 62) if max_cycles is None else int(max_cycles), self.hc,
        )  # fmt: skip
        none = lambda a: [None if v < 0 else int(v) for v in a]
        return none(arrivals), none(accepted)

    def core_config_write(self, tile, addr, data) -> None:
        """One i_config write into core ``tile`` (``layouts.core_config_writes``' words, as
        CoreModel.config_write takes them)."""
        if self.chip.core.learning:
            raise SpikemeshError(
                "core_config_write writes a core without learning; a learning chip is loaded "
                "over the host link (firmware/learned.py)"
            )
        _compile_lock.call(
            config_write, tile, int(addr), int(data), self.pm, self.fl, self.depth, self.st,
            self.prof, self.ax, self.syn, self.fp, self.fo, self.acc,
        )  # fmt: skip

    def core_run_tick(self, tile, events=(), *, tick=0, flit_ready=None, loopback=False,
                      trace=False):  # fmt: skip
        """CoreModel.run_tick on the compiled core ``tile`` alone (docs/timing.md protocol):
        ``flit_ready`` an array of o_flit.ready per cycle (repeated), default always 1.
        Returns (cycles, flits), and with ``trace`` a third item: int64 [cycles + 1, 3], the
        core's boundary in every cycle (outputs as it begins, o_flit.payload, the inputs held
        in it; the columns of ``_timed_core.core_tick``), what a testbench compares the RTL
        with cycle by cycle."""
        if self.chip.core.learning:
            raise SpikemeshError(
                "core_run_tick runs a core without learning; learning cores run at chip level (run)"
            )
        x, y = tile % self.chip.width, tile // self.chip.width
        ready = np.ones(1, dtype=np.int64) if flit_ready is None else np.asarray(flit_ready)
        ev = list(events)
        size = len(ev) + 4 * self.chip.core.fanout + 16
        queue = np.zeros(size, dtype=np.int64)
        queue[: len(ev)] = ev
        flits = np.zeros(size + self.chip.core.neurons, dtype=np.int64)
        bank = tick % self.chip.core.acc_banks
        rows = 0
        if trace:  # a first guess; a longer tick runs again from a copy of the core's state
            rows = trace_rows(len(ev), self.chip.core.neurons)
            saved = (self.cr[tile].copy(), self.st[tile].copy(), self.acc[tile].copy())
            saved_hc = self.hc.copy()
        while True:
            tr = np.zeros((rows, 3), dtype=np.int64)
            cycles, nf, _ = _compile_lock.call(
                core_tick, tile, x, y, bank, self.cr, self.pm, self.st, self.prof, self.ax,
                self.syn, self.fp, self.fo, self.acc, queue, len(ev), ready.astype(np.int64),
                flits, bool(loopback), self.fast, self.hc, tr,
            )  # fmt: skip
            if cycles != -2:
                break
            self.cr[tile], self.st[tile], self.acc[tile] = saved
            self.hc[...] = saved_hc
            rows *= 4
        if cycles < 0:
            raise SpikemeshError(f"core_run_tick: more than {size} events or flits in one tick")
        if trace:
            return int(cycles), flits[:nf].tolist(), tr[: cycles + 1]
        return int(cycles), flits[:nf].tolist()


def trace_rows(events: int, neurons: int) -> int:
    """core_run_tick's first guess of a traced tick's cycles (x4 on each retry)."""
    return 4 * (events + neurons) + 64


# --- whole runs -----------------------------------------------------------------------------


_COMPILE_S = None


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernels; returns the seconds it took once."""
    global _COMPILE_S
    if _COMPILE_S is None:
        from spikemesh.config import CoreConfig

        t0 = time.perf_counter()
        chip = ChipConfig(
            width=1,
            height=1,
            core=CoreConfig(neurons=16, axons=16, synapses=16, fanout=16, profiles=1),
        )
        CompiledChipModel(chip).run(
            np.array([[int(Cmd.RUN), 0, 0, 1, 0], [int(Cmd.END_TICK), 0, 0, 0, 0]])
        )
        _COMPILE_S = time.perf_counter() - t0
    return _COMPILE_S


def _run_array(image, inputs, ticks, counters_every):
    """The run's commands: RUN, inputs and END_TICKs, with every hardware counter read
    after the last tick (and every ``counters_every`` ticks) when ``counters_every`` is not
    False (firmware.loader.segmented_run_commands)."""
    from spikemesh.firmware.loader import counter_commands

    if counters_every is False:
        return run_command_array(image, inputs, ticks)
    every = max(ticks, 1) if counters_every is None else int(counters_every)
    if every < 1:
        raise SpikemeshError(f"counters are read every 1 or more ticks, not every {every}")
    reads = command_array(counter_commands(image.chip))
    inputs = np.asarray(inputs, dtype=bool)
    parts = []
    for t0 in range(0, max(ticks, 1), every):
        t1 = min(ticks, t0 + every)
        parts += [run_command_array(image, inputs[t0:t1], t1 - t0), reads]
    return np.concatenate(parts)


def run_image_timed(
    image, inputs, ticks, *, load="direct", model="compiled", on_tick=None, counters=False
):
    """Run ``image`` for ``ticks`` ticks on a timed model and read back every neuron's state.

    Parameters
    ----------
    load : "direct" | "hostlink"
        Place the image in the memories before cycle 0, or write it with CONFIG_WRITE
        commands over the host link first. Cycles per tick are the same either way. An
        image's route tables (``image.routing``) go over the host link first with either
        (firmware.loader.route_commands).
    model : "compiled" | "python"
        :class:`CompiledChipModel` or the Python twins (``TimedChipModel``).
    on_tick : callable(ticks done), optional
        Called as each TICK_DONE comes back (progress bars).
    counters : False, None or int
        On a chip with hardware counters (``counter_bits`` > 0): None reads every register
        over the host link after the last tick, an int K also after every K ticks
        (firmware.loader.counter_commands); the readings are in
        ``Result.extra["hw_counters"]`` (firmware.loader.decode_counters) and the per-tick
        router_blocked counts (differences of the model's ``tick_registers``) in
        ``Result.extra["router_blocked"]``. False (the default): none read.

    Returns
    -------
    (Result, responses)
        The decoded run (backend "tlm-timed" or "tlm-cycle", ``extra`` holding the compile
        and run seconds and the simulated cycles) and the raw (cycle, op, a, b) responses
        (an (N, 4) array from the compiled model, a list of tuples from the Python one).
    """
    from spikemesh.firmware.loader import config_commands, decode_run, route_commands

    if load not in ("direct", "hostlink"):
        raise SpikemeshError(f"load must be 'direct' or 'hostlink', not {load!r}")
    if model not in ("compiled", "python"):
        raise SpikemeshError(f"model must be 'compiled' or 'python', not {model!r}")
    image.check()
    compile_s = warm_up() if model == "compiled" else 0.0
    t0 = time.perf_counter()
    if counters is not False and not image.chip.counter_bits:
        raise SpikemeshError(
            "counters: the image's chip has no hardware counters (ChipConfig.counter_bits = 0)"
        )
    cmds = np.concatenate([_run_array(image, inputs, ticks, counters), read_state_array(image)])
    if load == "hostlink":
        cfg = config_commands(image)
        cmds = np.concatenate([command_array(cfg), cmds]) if cfg else cmds
    route = route_commands(image)  # the route tables go over the host link with either load
    if route:
        cmds = np.concatenate([command_array(route), cmds])
    if model == "compiled":
        m = CompiledChipModel(image.chip)
    else:
        from .chip import TimedChipModel

        m = TimedChipModel(image.chip)
        cmds = [dict(zip(_CMD_FIELDS, (int(v) for v in row), strict=True)) for row in cmds]
    if load == "direct":
        m.load_image(image)
    limit = 1 << 40  # a well-formed stream always ends; the stuck case is detected
    if model == "compiled":
        rsp = m.run_array(cmds, max_cycles=limit, on_tick=on_tick)
        res = decode_run(image, rsp[:, 1:], ticks, inputs, backend="tlm-timed")
    else:
        rsp = m.run(cmds, max_cycles=limit, on_tick=on_tick)
        res = decode_run(image, [r[1:] for r in rsp], ticks, inputs, backend="tlm-cycle")
    res.wall_time = time.perf_counter() - t0
    res.extra = dict(res.extra or {}, compile_s=compile_s, cycles_simulated=int(m.cycle), load=load)
    if image.chip.counter_bits and hasattr(m, "tick_registers"):
        res.extra["router_blocked"] = tick_blocked(image.chip, m.tick_registers, ticks)
    return res, rsp


def tick_blocked(chip, tick_registers, ticks) -> np.ndarray:
    """int64 [ticks, tiles, 5]: router_blocked per tick, the differences of the registers
    at consecutive tick ends (modulo 2**counter_bits)."""
    from spikemesh.counters import hw_index

    reg = np.asarray(tick_registers, dtype=np.int64)
    if reg.shape[0] != ticks:
        raise SpikemeshError(
            f"the model recorded the registers at {reg.shape[0]} tick ends, the run had {ticks}"
        )
    k = hw_index("router_blocked", 0)
    blk = reg[:, : chip.tiles * 16].reshape(ticks, chip.tiles, 16)[:, :, k : k + 5]
    prev = np.concatenate([np.zeros((1, chip.tiles, 5), dtype=np.int64), blk[:-1]])
    return (blk - prev) & ((1 << chip.counter_bits) - 1)
