"""A system of chips simulated functionally across MPI processes (mpi4py), bit-exact with one.

Each of the R ranks takes a contiguous run of chips (:func:`chip_ranges`) and runs their
neurons with the fast kernel (sim/fast.py) over a CSR walked out of the chips' own tables
(fan-out -> axon -> synapse row, the walk of sim/chip.py, on the rank's chips stacked into
one mesh). Rows of that CSR are the rank's neuron slots, the sources, and *ghosts*: the
neurons of other ranks that have fan-out entries into this rank's chips. A ghost's row
holds the synapses its spike reaches here; it is built once, at setup, from the fan-out
entries its owner sends (one MPI_Alltoallv per table).

A tick on every rank: update its neurons and deliver its own spikes and the inputs
stamped t (one kernel call), then send the ids of its spiking neurons that have targets on
another rank to that rank (MPI_Alltoall of counts, then MPI_Alltoallv of 4-byte global
slot ids), and deliver the ghosts' rows of the ids received. All of that lands in the
accumulators before tick t + 1's update, which is chip.md's one-tick delay; the
accumulators add modulo 2^acc_bits, so neither the order of arrival nor the number of
ranks can change a bit of the result.

Errors: ranks that disagree (another image, other inputs, more ranks than chips) or a rank
that fails while setting up raise the same :class:`DistributedError` on every rank; a rank
that fails inside the tick loop, where the others wait in a collective, prints its error
and calls ``MPI_Abort``, so the launch ends with an error instead of hanging.

The functional model knows no cycles. The timed model of a system runs on the same rank
layout (:func:`chip_ranges`) and error handling in sim/distributed_timed.py, exchanging
flits and credits stamped with their cycle in windows of the link latency (docs/scale.md).
"""

from __future__ import annotations

import functools
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit
from spikemesh.firmware.system import SystemImage

from spikemesh.coreimage import PROFILE_COLUMNS
from spikemesh.errors import SpikemeshError
from spikemesh.golden import Result

from .chip import image_neurons
from .fast import FastSim
from .rank_tables import no_ghosts, source_list, split_entries, stack_tables, walk

__all__ = ["DistributedError", "DistributedSim", "chip_ranges", "run_system"]


class DistributedError(SpikemeshError):
    """A distributed run cannot go on: the ranks disagree, or one of them failed."""


class _SerialComm:
    """The few collectives a one-process run uses, without MPI (mpi4py need not be there)."""

    rank, size = 0, 1

    def allgather(self, x):
        return [x]

    def gather(self, x, root=0):
        return [x]

    def Abort(self, code=1):  # MPI's name
        raise SystemExit(code)


ABORT_DRAIN_S = 0.5  # what a failing rank waits, its error written, before it aborts


def abort_launch(comm, error: BaseException) -> None:
    """End the whole launch after ``error`` on this rank (the others wait in a collective),
    saying so on stderr first: ``error: rank R failed during the run: Type: message``.

    MPI_Abort has mpiexec kill every process at once, hydra's stdio forwarders too, so a
    message still in a rank's pipe can be lost (seen once in CI: the launch ended with
    exit code 1 and an empty stderr). The rank waits :data:`ABORT_DRAIN_S` for its line to
    be forwarded before it aborts.
    """
    print(
        f"error: rank {comm.rank} failed during the run: {type(error).__name__}: {error}",
        file=sys.stderr,
        flush=True,
    )
    time.sleep(ABORT_DRAIN_S)
    comm.Abort(1)


def world():
    """MPI's COMM_WORLD, or a one-process stand-in when mpi4py is not installed."""
    try:
        from mpi4py import MPI
    except ImportError:
        return _SerialComm()
    return MPI.COMM_WORLD


def chip_ranges(chips: int, ranks: int) -> list[tuple[int, int]]:
    """Rank r runs chips ``[c0, c1)``: contiguous runs as even as the counts allow."""
    if ranks > chips:
        raise DistributedError(
            f"{ranks} ranks for a system of {chips} chip(s): each rank needs at least one "
            f"chip; launch at most {chips} ranks or use a system with more chips"
        )
    return [(r * chips // ranks, (r + 1) * chips // ranks) for r in range(ranks)]


def _agree(comm, fn, what):
    """Run ``fn`` on every rank; if it fails on any, raise the same error on all of them."""
    err, out = None, None
    try:
        out = fn()
    except (SpikemeshError, OSError, ValueError) as e:
        err = f"{type(e).__name__}: {e}" if not isinstance(e, SpikemeshError) else str(e)
    errors = comm.allgather(err)
    bad = [(r, e) for r, e in enumerate(errors) if e is not None]
    if bad:
        r, e = bad[0]
        more = f" (and {len(bad) - 1} other rank(s))" if len(bad) > 1 else ""
        raise DistributedError(f"{what} failed on rank {r}{more}: {e}")
    return out


def _same_everywhere(comm, value, what):
    values = comm.allgather(value)
    odd = [r for r, v in enumerate(values) if v != values[0]]
    if odd:
        raise DistributedError(
            f"rank {odd[0]} was given {what} other than rank 0's ({len(odd)} of "
            f"{len(values)} ranks differ); every rank must be launched with the same {what}"
        )


@njit(cache=True)
def _pack(spikes, dest_ptr, dest_rank, base, counts, out):
    """Ids (base + local slot) of the spiking neurons, grouped by the ranks they go to."""
    counts[:] = 0
    for i in spikes:
        for k in range(dest_ptr[i], dest_ptr[i + 1]):
            counts[dest_rank[k]] += 1
    pos = np.zeros(counts.size, dtype=np.int64)
    for r in range(1, counts.size):
        pos[r] = pos[r - 1] + counts[r - 1]
    for i in spikes:
        for k in range(dest_ptr[i], dest_ptr[i + 1]):
            r = dest_rank[k]
            out[pos[r]] = base + i
            pos[r] += 1


def _alltoallv(comm, parts, dtype):
    """Send the arrays of ``parts[r]`` (a list per rank, emptied as it is packed) to rank r;
    return what every rank sent here, concatenated in rank order, and the counts sent to
    and received from every rank."""
    from mpi4py import MPI

    scount = np.array([sum(len(a) for a in p) for p in parts], dtype=np.int64)
    send = np.empty(int(scount.sum()), dtype=dtype)
    pos = 0
    for p in parts:
        while p:  # one copy into the send buffer; each piece is freed once copied
            a = p.pop(0)
            send[pos : pos + len(a)] = a
            pos += len(a)
    rcount = np.empty_like(scount)
    comm.Alltoall(scount, rcount)
    recv = np.empty(int(rcount.sum()), dtype=dtype)
    mt = MPI._typedict[np.dtype(dtype).char]
    sd = np.cumsum(scount) - scount
    rd = np.cumsum(rcount) - rcount
    comm.Alltoallv([send, (scount, sd), mt], [recv, (rcount, rd), mt])
    return recv, scount, rcount


class DistributedSim:
    """This rank's share of a system: its chips' neurons on the fast kernel, and the tables
    that route spikes between ranks.

    Parameters
    ----------
    image : SystemImage or path
        The compiled system; from a file, each rank reads only its own chips.
    comm : mpi4py communicator, optional
        Default: COMM_WORLD (a one-process stand-in when mpi4py is not installed).
    exchange : "neighbours" or "alltoallv"
        How a tick's spike ids travel. "neighbours": one message to each rank that holds
        targets of this rank's neurons (MPI_Isend) and one from each rank that reaches
        this one (MPI_Mprobe + MPI_Recv): one message latency a tick. "alltoallv": an
        MPI_Alltoall of counts then an MPI_Alltoallv of ids: two collectives, whose
        latency grows as log R where neighbours grow as R.

    Members
    -------
    chips : (c0, c1)
        The chips this rank runs.
    sim : FastSim
        Over this rank's slots: rows are its slots, then sources, then ghosts.
    setup_time, comm_time, wait_time, transfer_time : float
        Seconds spent setting up and in the per-tick exchange (comm_time), split into the
        time waiting for the other ranks to be ready (wait_time: the neighbours' messages
        to arrive, or the exchange of counts) and the rest (transfer_time).
    """

    def __init__(self, image, *, comm=None, exchange="neighbours"):
        t_start = time.perf_counter()
        if exchange not in ("neighbours", "alltoallv"):
            raise DistributedError(
                f"exchange must be 'neighbours' or 'alltoallv', not {exchange!r}"
            )
        self.exchange = exchange
        self.out_peers = self.in_peers = []
        self.comm = comm = world() if comm is None else comm
        self.rank, self.size = comm.rank, comm.size
        owned = not isinstance(image, SystemImage)
        head = _agree(
            comm,
            lambda: SystemImage.load(image, chips=[]) if owned else image,
            "reading the system image",
        )
        _same_everywhere(comm, _agree(comm, head.digest, "hashing the image"), "system image")
        self.system = s = head.system
        ranges = chip_ranges(s.chips, self.size)  # raises alike on every rank
        self.chips = c0, c1 = ranges[self.rank]
        img = _agree(
            comm,
            lambda: SystemImage.load(image, chips=range(c0, c1)) if owned else image,
            "loading this rank's chips",
        )
        self.num_neurons, self.num_sources = img.num_neurons, img.num_sources
        self.recorded_all = img.recorded
        n_chip = s.chip.neurons
        self.n_local = (c1 - c0) * n_chip
        self.slot_base = c0 * n_chip
        if s.neurons >= 2**31:
            raise DistributedError(f"{s.neurons:,} neuron slots do not fit the 32-bit spike ids")
        rank_of_chip = np.repeat(np.arange(self.size), [b - a for a, b in ranges])
        local, remote, pairs = _agree(
            comm,
            lambda: split_entries(img, ranges, rank_of_chip, self.rank, owned),
            "splitting fan-out",
        )
        self._routing(pairs)
        ghosts = self._exchange(remote, ranges) if self.size > 1 else no_ghosts()
        del remote
        self.ghost_slots = ghosts["slot"]
        build = functools.partial(self._build, img, local, ghosts, owned)
        self.sim = _agree(comm, build, "building this rank's model")
        del local, ghosts, build
        self.comm_time = self.wait_time = self.transfer_time = 0.0
        self.ghost_events = 0
        self.exchanged = 0  # spike ids sent by this rank
        self.setup_time = time.perf_counter() - t_start

    # --- setup ---
    def _routing(self, pairs):
        """dest_ptr/dest_rank: the other ranks each local neuron's spikes go to."""
        nl = self.n_local
        if pairs:
            who = np.concatenate([p[0] for p in pairs])
            rk = np.concatenate([p[1] for p in pairs])
            order = np.lexsort((rk, who))
            who, rk = who[order], rk[order]
        else:
            who = rk = np.zeros(0, dtype=np.int64)
        self.dest_ptr = np.zeros(nl + 1, dtype=np.int64)
        np.cumsum(np.bincount(who, minlength=nl), out=self.dest_ptr[1:])
        self.dest_rank = rk.astype(np.int64)
        self._sendbuf = np.empty(max(1, rk.size), dtype=np.int32)

    def _exchange(self, remote, ranges):
        """Send each rank the fan-out entries of this rank's neurons into its chips."""
        comm, out = self.comm, {}
        kinds = (("slot", np.int64), ("count", np.int64), ("x", np.uint8))
        for key, dt in (*kinds, ("y", np.uint16), ("axon", np.int32)):
            parts = [remote[r].pop(key) for r in range(self.size)]
            out[key], sent, got = _alltoallv(comm, parts, dt)
            if key == "slot":  # the neighbours: ranks this one sends spikes to, hears from
                self.out_peers = [r for r in range(self.size) if sent[r] and r != self.rank]
                self.in_peers = [r for r in range(self.size) if got[r] and r != self.rank]
        if out["slot"].size > 1 and np.any(np.diff(out["slot"]) <= 0):
            raise DistributedError("ghost neurons arrived out of order (internal error)")
        return out

    def _build(self, img, local, ghosts, owned):
        """The FastSim over this rank's slots: neuron tables, then the CSR walk."""
        s, (c0, c1) = self.system, self.chips
        chip, n_chip = s.chip, s.chip.neurons
        mine = [img.chips[c] for c in range(c0, c1)]
        parts = [image_neurons(ci) for ci in mine]
        params = np.concatenate([p[0] for p in parts])
        u0 = np.concatenate([p[1] for p in parts])
        v0 = np.concatenate([p[2] for p in parts])
        del parts
        self.slot_to_net = np.full(self.n_local, -1, dtype=np.int64)
        rec_slot, rec_net = [], []
        for j, (c, ci) in enumerate(zip(range(c0, c1), mine, strict=True)):
            first = int(img.neuron_first[c])
            self.slot_to_net[j * n_chip + ci.neuron_slot] = first + np.arange(ci.num_neurons)
            rec_slot.append(j * n_chip + ci.neuron_slot[ci.recorded])
            rec_net.append(first + ci.recorded)
        self.rec_net = np.concatenate(rec_net).astype(np.int64)
        lists = list(local)
        lists.append(source_list(mine, c0, range(c0, c1), chip.height, self.n_local))
        g = ghosts["slot"].size
        cnt = ghosts["count"]
        lists.append(
            (
                g,
                self.n_local + self.num_sources,
                np.cumsum(cnt) - cnt,
                cnt,
                ghosts["x"],
                ghosts["y"],
                ghosts["axon"],
            )
        )
        flat = stack_tables(mine, chip.core, owned)
        indptr, post, weight = walk(
            lists,
            flat,
            chip.width,
            chip.core.axons,
            chip.core.neurons,
            self.n_local + self.num_sources + g,
        )
        del lists, flat
        if owned:
            for c in range(c0, c1):
                img.chips[c] = None
        return FastSim(
            indptr=indptr,
            post=post,
            weight=weight,
            **{k: params[:, i] for i, k in enumerate(PROFILE_COLUMNS)},
            u0=u0,
            v0=v0,
            num_sources=self.num_sources + g,
            acc_bits=chip.core.acc_bits,
            recorded=np.concatenate(rec_slot).astype(np.int64),
        )

    # --- running ---
    def _after_tick(self):
        comm, size = self.comm, self.size
        from mpi4py import MPI

        scount = np.zeros(size, dtype=np.int64)
        rcount = np.zeros(size, dtype=np.int64)
        ghost_row0 = self.n_local + self.num_sources
        i32 = MPI.INT32_T

        def exchange(t, ids):
            _pack(ids, self.dest_ptr, self.dest_rank, self.slot_base, scount, self._sendbuf)
            t0 = time.perf_counter()
            # The counts' exchange is where a rank waits for the slowest one; the ids'
            # exchange that follows starts with the ranks in step: it is the transfer.
            comm.Alltoall(scount, rcount)
            t1 = time.perf_counter()
            recv = np.empty(int(rcount.sum()), dtype=np.int32)
            sd = np.cumsum(scount) - scount
            rd = np.cumsum(rcount) - rcount
            comm.Alltoallv([self._sendbuf, (scount, sd), i32], [recv, (rcount, rd), i32])
            t2 = time.perf_counter()
            self.wait_time += t1 - t0
            self.transfer_time += t2 - t1
            self.comm_time += t2 - t0
            self.exchanged += int(scount.sum())
            rows = ghost_row0 + np.searchsorted(self.ghost_slots, recv)
            self.ghost_events += self.sim.deliver(rows)

        return exchange

    def _after_tick_neighbours(self):
        comm, size = self.comm, self.size
        from mpi4py import MPI

        scount = np.zeros(size, dtype=np.int64)
        ghost_row0 = self.n_local + self.num_sources
        i32 = MPI.INT32_T
        status = MPI.Status()
        tag = 0x5E  # one message per pair and tick; MPI keeps a pair's messages in order

        def exchange(t, ids):
            _pack(ids, self.dest_ptr, self.dest_rank, self.slot_base, scount, self._sendbuf)
            sd = np.cumsum(scount) - scount
            t0 = time.perf_counter()
            reqs = [
                comm.Isend([self._sendbuf[sd[p] : sd[p] + scount[p]], i32], dest=p, tag=tag)
                for p in self.out_peers
            ]
            parts, waited = [], 0.0
            for p in self.in_peers:
                t1 = time.perf_counter()
                msg = comm.Mprobe(source=p, tag=tag, status=status)
                waited += time.perf_counter() - t1
                buf = np.empty(status.Get_count(i32), dtype=np.int32)
                msg.Recv([buf, i32])
                parts.append(buf)
            # Complete the sends before leaving MPI: a large message moves (rendezvous) only
            # while both ranks are inside an MPI call.
            MPI.Request.Waitall(reqs)
            t2 = time.perf_counter()
            self.wait_time += waited
            self.transfer_time += t2 - t0 - waited
            self.comm_time += t2 - t0
            self.exchanged += int(scount.sum())
            if parts:
                recv = np.concatenate(parts) if len(parts) > 1 else parts[0]
                rows = ghost_row0 + np.searchsorted(self.ghost_slots, recv)
                self.ghost_events += self.sim.deliver(rows)

        return exchange

    def input_events(self, ticks, inputs=None):
        """The input raster bool [ticks, S] as the kernel's (in_ptr, in_ids) on this rank."""
        ticks, s = int(ticks), self.num_sources
        in_ptr = np.zeros(ticks + 1, dtype=np.int64)
        if inputs is None:
            return in_ptr, np.zeros(0, dtype=np.int64)
        inputs = np.asarray(inputs)
        if inputs.shape != (ticks, s) or inputs.dtype != bool:
            raise DistributedError(
                f"inputs must be a boolean array of shape ({ticks}, {s}), "
                f"not {inputs.dtype} {inputs.shape}"
            )
        tt, ii = np.nonzero(inputs)
        np.cumsum(np.bincount(tt, minlength=ticks), out=in_ptr[1:])
        return in_ptr, ii.astype(np.int64) + self.n_local

    def run_events(self, ticks, inputs=None, *, progress=False):
        """Run ``ticks`` ticks; return this rank's spikes as events over its local slots
        (``FastSim.run_events``' tuple). Every rank must pass the same ``inputs`` (a raster,
        or what :meth:`input_events` made of it)."""
        comm, ticks = self.comm, int(ticks)
        if isinstance(inputs, tuple):  # already converted by input_events
            ev_in = inputs
        else:
            ev_in = _agree(comm, lambda: self.input_events(ticks, inputs), "reading the inputs")
        # the events without this rank's row offset: the raster itself
        digest = _inputs_digest(ticks, (ev_in[0], ev_in[1] - self.n_local))
        _same_everywhere(comm, digest, "inputs")
        if self.size == 1:
            return self.sim.run_events(ticks, ev_in, progress=progress)
        try:
            out = self.sim.run_events(
                ticks,
                ev_in,
                progress=progress and self.rank == 0,
                after_tick=self._after_tick()
                if self.exchange == "alltoallv"
                else self._after_tick_neighbours(),
            )
            return out
        except BaseException as e:  # the others wait in a collective: end the whole launch
            abort_launch(comm, e)
            raise

    @property
    def events(self) -> int:
        """Synaptic events delivered on this rank (its own, the inputs' and the ghosts')."""
        return self.sim.events + self.ghost_events

    def run(self, ticks, inputs=None, *, progress=False) -> Result | None:
        """Run and gather a :class:`~spikemesh.golden.Result` on rank 0 (None elsewhere)."""
        t0 = time.perf_counter()
        ticks = int(ticks)
        spk_ptr, spk_ids, u_tr, v_tr = self.run_events(ticks, inputs, progress=progress)
        wall = time.perf_counter() - t0
        tick_of = np.repeat(np.arange(ticks), np.diff(spk_ptr))
        net_id = self.slot_to_net[spk_ids]
        keep = net_id >= 0  # a slot without a neuron may fire but reaches nothing
        sim = self.sim
        own = self.slot_to_net >= 0
        part = {
            "tick": tick_of[keep],
            "id": net_id[keep],
            "rec": self.rec_net,
            "u": u_tr,
            "v": v_tr,
            "ids": self.slot_to_net[own],
            "fu": sim.u[own],
            "fv": sim.v[own],
            "events": self.events,
            "comm_time": self.comm_time,
        }
        parts = self.comm.gather(part, root=0)
        if self.rank != 0:
            return None
        return self._result(parts, ticks, inputs, wall)

    def _result(self, parts, ticks, inputs, wall):
        n, rec = self.num_neurons, self.recorded_all
        spikes = np.zeros((ticks, n), dtype=bool)
        final_u = np.zeros(n, dtype=np.int32)
        final_v = np.zeros(n, dtype=np.int32)
        col = {int(g): k for k, g in enumerate(rec)}
        u = np.zeros((ticks, rec.size), dtype=np.int32)
        v = np.zeros((ticks, rec.size), dtype=np.int32)
        for p in parts:
            spikes[p["tick"], p["id"]] = True
            final_u[p["ids"]], final_v[p["ids"]] = p["fu"], p["fv"]
            for j, g in enumerate(p["rec"]):
                u[:, col[int(g)]], v[:, col[int(g)]] = p["u"][:, j], p["v"][:, j]
        inputs = (
            np.zeros((ticks, self.num_sources), dtype=bool)
            if inputs is None
            else np.asarray(inputs, dtype=bool)
        )
        extra = {
            "events": sum(p["events"] for p in parts),
            "neuron_spikes": int(spikes.sum()),
            "input_spikes": int(inputs.sum()),
            "setup_time": self.setup_time,
            "ranks": self.size,
            "comm_time": max(p["comm_time"] for p in parts),
        }
        return Result(
            spikes=spikes,
            inputs=inputs,
            recorded=rec.copy(),
            u=u,
            v=v,
            final_u=final_u,
            final_v=final_v,
            backend="tlm",
            wall_time=wall,
            extra=extra,
        )


def _inputs_digest(ticks, ev_in):
    h = hashlib.sha256(str(ticks).encode())
    for a in ev_in:
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


def run_system(system_image, inputs, ticks, *, comm=None, progress=False) -> Result | None:
    """Run a compiled system for ``ticks`` ticks on the ranks of ``comm`` (default: all).

    Parameters
    ----------
    system_image : SystemImage or path
    inputs : bool [ticks, S] or None
        The input raster; the same on every rank (checked).

    Returns
    -------
    Result on rank 0 (bit-exact with a one-process run and with ``run_golden``), None on
    the other ranks.
    """
    if isinstance(system_image, (str, Path)):
        system_image = Path(system_image)
    return DistributedSim(system_image, comm=comm).run(ticks, inputs, progress=progress)
