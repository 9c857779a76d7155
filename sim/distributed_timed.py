"""The timed model of a system of chips across MPI ranks, cycle-exact with one process.

Rank r runs the chips ``chip_ranges(C, R)[r]`` of sim/timed_system.py (the same chips as
the functional run, sim/distributed.py). What crosses ranks is what crosses chip-to-chip
links, flits one way and credits the other, each stamped with the cycle it arrives in,
which is at least ``link_latency`` (L) cycles after it was sent. Three rules keep every
rank's cycles those of the one-process run (:class:`~.timed_system.TimedSystem`)::

    tick t:  start ---- window ---- window ---- ... window ---- barrier ---- start t+1
               |  L cycles  |  L cycles  |          |            |
           allreduce    exchange     exchange    exchange     allreduce
           (max start)  (neighbours) (neighbours)  + allgather (pause cycles)

1. **Conservative lookahead.** A rank simulates a window of L cycles, then swaps the
   messages its links' ends posted in it with the ranks across its links (one message to
   each neighbour rank, MPI_Isend / MPI_Recv, every window). A message sent in the window
   acts at or after the window's end, so no rank ever needs one it has not got.
2. **The tick barrier.** A tick ends in the first cycle in which every chip's barrier
   flag holds (sim/timed_system.py). A rank *pauses* before a cycle in which its chips'
   flags hold and no flit waits on its incoming links: from there on it stays quiet unless
   a flit arrives, and it cannot know whether the others are done. After each window's
   exchange every rank reports (paused, pause cycle) (MPI_Allgather); a paused rank that
   received a flit resumes. When all are paused, no flit is anywhere (a flit on a link
   keeps its sender's flag down until it arrives), so the barrier is the latest pause
   cycle e: each rank steps its quiet chips up to e with the barrier low, then cycle e
   with it high. No rank ever steps past a cycle whose barrier it does not know.
3. **The start.** After the barrier nothing crosses a link until a tick starts, so each
   rank steps on until its host links would start, and the system starts in the latest
   such cycle (MPI_Allgather); the others step their chips up to it with start held off.

Cost per tick: one allgather for the start, ceil(tick cycles / L) window exchanges with
each neighbour rank plus one allgather per window (docs/scale.md measures it).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .distributed import _agree, _same_everywhere, abort_launch, chip_ranges, world
from .timed_system import (
    TimedSystemError,
    build_chips,
    check_inputs,
    chip_commands,
    chip_part,
    deliver,
    link_table,
    system_result,
)

__all__ = ["DistributedTimedSim", "run_system_timed_mpi"]

_TAG = 0x5F


class DistributedTimedSim:
    """This rank's chips of a system on the timed model, and their links to other ranks.

    Parameters
    ----------
    image : SystemImage or path
    inputs : bool [ticks, S] or None
        The same on every rank (checked).
    ticks : int
    comm : mpi4py communicator, optional (default COMM_WORLD)

    Members
    -------
    chips : (c0, c1)
    windows, exchanges, resumes : int
        Lookahead windows stepped, messages sent to other ranks, and pauses ended by a
        flit that arrived.
    comm_time, exchange_time : float
        Seconds spent in MPI: all of it, and the part in the windows' point-to-point
        exchanges (the rest is the allgathers, where a rank also waits for the slowest).
    """

    def __init__(self, image, inputs, ticks, *, comm=None):
        from pathlib import Path

        from spikemesh.firmware.system import SystemImage

        t0 = time.perf_counter()
        self.comm = comm = world() if comm is None else comm
        self.rank, self.size = comm.rank, comm.size
        owned = isinstance(image, (str, Path))
        head = _agree(
            comm,
            lambda: SystemImage.load(image, chips=[]) if owned else image,
            "reading the system image",
        )
        _same_everywhere(comm, _agree(comm, head.digest, "hashing the image"), "system image")
        self.system = s = head.system
        ranges = chip_ranges(s.chips, self.size)
        self.chips = c0, c1 = ranges[self.rank]
        img = _agree(
            comm,
            lambda: SystemImage.load(image, chips=range(c0, c1)) if owned else image,
            "loading this rank's chips",
        )
        self.image, self.ticks = img, int(ticks)
        self.inputs = _agree(comm, lambda: check_inputs(img, inputs, ticks), "reading the inputs")
        _same_everywhere(comm, _digest(self.ticks, self.inputs), "inputs")
        rank_of = np.repeat(np.arange(self.size), [b - a for a, b in ranges])
        links = link_table(s)
        self.outbox = {}  # peer rank -> messages posted this window
        mine = range(c0, c1)

        def post_for(lid, to_receiver):
            c, d = links[lid][0], links[lid][4]
            peer = int(rank_of[d] if to_receiver else rank_of[c])
            if peer == self.rank:
                return lambda msg: deliver(msg, self.out_end, self.in_end)
            box = self.outbox.setdefault(peer, [])
            return box.append

        cmds = _agree(
            comm,
            lambda: {c: chip_commands(img, c, self.inputs, ticks) for c in mine},
            "building the command streams",
        )
        self.node, self.out_end, self.in_end = _agree(
            comm, lambda: build_chips(img, mine, cmds, post_for), "building this rank's chips"
        )
        # neighbour ranks: those across any link of this rank's chips (both directions)
        peers = set()
        for c, _, _, _, d, *_ in links:
            a, b = int(rank_of[c]), int(rank_of[d])
            if self.rank in (a, b) and a != b:
                peers.add(b if a == self.rank else a)
        self.peers = sorted(peers)
        for p in self.peers:
            self.outbox.setdefault(p, [])
        self.cycle = 0
        self.windows = self.exchanges = self.resumes = 0
        self.comm_time = self.exchange_time = 0.0
        self.setup_time = time.perf_counter() - t0

    # --- stepping this rank's chips ---
    def _step(self, barrier=False, start_ok=False):
        for ch in self._list:
            ch.prepare(self.cycle)
        for ch in self._list:
            ch.commit(barrier, start_ok)
        self.cycle += 1

    def _peek(self):
        """Prepare the next cycle; (every chip's barrier flag, every chip would start)."""
        flag, start = True, True
        for ch in self._list:
            flag &= ch.prepare(self.cycle)
            start &= ch.start_ready
        return flag, start

    def _quiet_links(self):
        return not any(e.buf for e in self.in_end.values())

    def _exchange(self):
        """Swap this window's link messages with every neighbour rank."""
        t0 = time.perf_counter()
        comm = self.comm
        reqs = []
        for p in self.peers:
            box = self.outbox[p]
            reqs.append(comm.isend(list(box), dest=p, tag=_TAG))
            box.clear()
            self.exchanges += 1
        for p in self.peers:
            for msg in comm.recv(source=p, tag=_TAG):
                deliver(msg, self.out_end, self.in_end)
        for r in reqs:
            r.wait()
        dt = time.perf_counter() - t0
        self.comm_time += dt
        self.exchange_time += dt

    def _allgather(self, x):
        t0 = time.perf_counter()
        out = self.comm.allgather(x)
        self.comm_time += time.perf_counter() - t0
        return out

    def _tick(self, latency):
        """Start a tick together, run it in windows, end it at the barrier."""
        if any(self.outbox.values()):
            raise TimedSystemError("a link message was left between ticks (internal error)")
        # the start: step until this rank's host links would start; the latest wins
        while True:
            flag, start = self._peek()
            if start:
                break
            self._step()
        s = max(self._allgather(self.cycle))
        while self.cycle < s:
            self._step()
        self._step(start_ok=True)
        end = self.cycle - 1 + latency  # the window [start, start + L)
        paused = None
        while True:
            while self.cycle < end:
                flag, _ = self._peek()
                if flag and self._quiet_links():
                    paused = self.cycle
                    break
                self._step()
                paused = None
            self._exchange()
            self.windows += 1
            if paused is not None and not self._quiet_links():
                paused = None  # a flit arrived: catch up from the pause next window
                self.resumes += 1
            views = self._allgather(paused)
            if all(v is not None for v in views):
                e = max(views)
                while self.cycle < e:
                    self._step()
                if not self._peek()[0]:
                    raise TimedSystemError(
                        f"rank {self.rank}: the barrier fell in cycle {e}, where this rank's "
                        "chips are not done (internal error)"
                    )
                self._step(barrier=True)
                return
            end += latency

    def run(self, *, progress=False):
        """Run every tick; the Result on rank 0 (None elsewhere)."""
        t0 = time.perf_counter()
        self._list = list(self.node.values())
        latency = self.system.link_latency
        try:
            for t in range(self.ticks):
                self._tick(latency)
                if progress and self.rank == 0 and (t + 1) % max(1, self.ticks // 20) == 0:
                    print(f"tick {t + 1}/{self.ticks}", file=sys.stderr, flush=True)
            # the last responses: no more ticks, nothing crosses a link
            while not all(ch.finished for ch in self._list):
                self._step()
        except BaseException as e:  # the others wait in an exchange: end the whole launch
            if self.size > 1:
                abort_launch(self.comm, e)
            raise
        wall = time.perf_counter() - t0
        part = {
            "chips": [
                chip_part(self.image, c, ch.responses, ch.final_state(), self.ticks)
                for c, ch in self.node.items()
            ],
            "stats": (self.windows, self.exchanges, self.comm_time, self.cycle),
        }
        parts = self.comm.gather(part, root=0)
        if self.rank != 0:
            return None
        res = system_result(
            self.image, [c for p in parts for c in p["chips"]], self.ticks, self.inputs
        )
        res.wall_time = wall
        res.extra.update(
            ranks=self.size,
            windows=self.windows,
            exchanges=sum(p["stats"][1] for p in parts),
            comm_time=max(p["stats"][2] for p in parts),
            setup_time=self.setup_time,
        )
        return res


def _digest(ticks, inputs):
    import hashlib

    h = hashlib.sha256(str(ticks).encode())
    h.update(np.packbits(np.asarray(inputs, dtype=bool)).tobytes())
    h.update(str(np.asarray(inputs).shape).encode())
    return h.hexdigest()


def run_system_timed_mpi(image, inputs, ticks, *, comm=None, progress=False):
    """Run a compiled system on the timed model over the ranks of ``comm`` (default: all).

    Returns the Result on rank 0 (cycle-exact with
    :func:`~spikemesh.sim.timed_system.run_system_timed`: every spike, every tick's cycle
    count, every response's cycle), None on the other ranks.
    """
    return DistributedTimedSim(image, inputs, ticks, comm=comm).run(progress=progress)
