"""The chip's transaction-level model, functional mode: runs a compiled ChipImage.

It follows the image's tables exactly as the hardware does — a spike walks
its neuron's fan-out list to (tile, axon) entries, each axon walks its synapse
row on the destination core — but does a whole tick at once, vectorised, with
no notion of cycles. The timed mode (cycle-level, composed of CoreModel and
MeshModel twins) lives beside it.
"""

from __future__ import annotations

import time

import numpy as np

from spikemesh.coreimage import PROFILE_COLUMNS
from spikemesh.counters import HW_TILE_COUNT
from spikemesh.golden import Result


def _expand(base, length):
    """Concatenate the index ranges base[i] .. base[i] + length[i] - 1; also return the owner i."""
    length = np.asarray(length, dtype=np.int64)
    total = int(length.sum())
    owner = np.repeat(np.arange(length.size, dtype=np.int64), length)
    if total == 0:
        return np.zeros(0, dtype=np.int64), owner
    starts = np.asarray(base, dtype=np.int64)[owner]
    first = np.cumsum(length) - length
    return starts + (np.arange(total, dtype=np.int64) - first[owner]), owner


def image_synapses(image):
    """Flatten an image into slot-level synapses by walking its tables.

    Returns
    -------
    pre, post, wv : int64 arrays
        ``pre`` is a chip slot (tile * neurons + index) or ``n_slots + source``;
        ``post`` a chip slot; ``wv`` = weight << axon exponent.
    """
    chip = image.chip
    n = chip.core.neurons
    n_slots = chip.tiles * n
    # (owner, dest tile, axon) for every fan-out entry and every host input entry
    owners, dtiles, axons = [], [], []
    for t, core in enumerate(image.cores):
        k, i = _expand(core.fan_base, core.fan_len)
        owners.append(t * n + i)
        dtiles.append(core.fan_y[k] * chip.width + core.fan_x[k])
        axons.append(core.fan_axon[k])
    k, s = _expand(image.src_ptr[:-1], np.diff(image.src_ptr))
    owners.append(n_slots + s)
    dtiles.append(image.src_y[k] * chip.width + image.src_x[k])
    axons.append(image.src_axon[k])
    owner = np.concatenate(owners)
    dtile = np.concatenate(dtiles)
    axon = np.concatenate(axons)
    pres, posts, wvs = [], [], []
    for t, core in enumerate(image.cores):
        sel = dtile == t
        if not sel.any():
            continue
        a = axon[sel]
        syn, ev = _expand(core.axon_base[a], core.axon_len[a])
        pres.append(owner[sel][ev])
        posts.append(t * n + core.syn_target[syn])
        wvs.append(core.syn_weight[syn] << core.axon_exp[a][ev])
    if not pres:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy(), z.copy()
    return np.concatenate(pres), np.concatenate(posts), np.concatenate(wvs)


def image_neurons(image):
    """Per-slot parameters [n_slots, 6], u0, v0 from the cores' profile tables."""
    params = np.concatenate([c.profiles[c.profile_idx] for c in image.cores]).astype(np.int64)
    u0 = np.concatenate([c.u0 for c in image.cores]).astype(np.int64)
    v0 = np.concatenate([c.v0 for c in image.cores]).astype(np.int64)
    return params, u0, v0


def image_csr(image):
    """Walk the image's tables into slot-level CSR rows (numba; no int64 temporaries).

    Returns (indptr [n_slots + S + 1], post [nnz] uint16/uint32 chip slots,
    weight [nnz] int16 = w << axon exponent, delay [nnz] uint8 of the axons or None when
    every delay is 1). Rows are chip slots, then sources.
    Equal, as a multiset, to :func:`image_synapses` (a test checks it).
    """
    from spikemesh.firmware import _kernels as K

    chip = image.chip
    n, width, n_axons, tiles = chip.core.neurons, chip.width, chip.core.axons, chip.tiles
    flat = image.flat_tables()
    src_base = image.src_ptr[:-1].astype(np.int64)
    src_len = np.diff(image.src_ptr).astype(np.int64)
    # (rows, row offset, fan-out tables) of every core, then of the host's input table
    lists = [
        (n, t * n, c.fan_base, c.fan_len, c.fan_x, c.fan_y, c.fan_axon)
        for t, c in enumerate(image.cores)
    ]
    lists.append(
        (image.num_sources, tiles * n, src_base, src_len, image.src_x, image.src_y, image.src_axon)
    )
    rows = tiles * n + image.num_sources
    counts = np.zeros(rows, dtype=np.int64)
    for k, (m, row, fb, fl, fx, fy, fa) in enumerate(lists):
        K.walk_count(m, width, k, fb, fl, fx, fy, fa, flat["axon_len"], n_axons, counts, row)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    post = np.empty(int(indptr[-1]), dtype=np.uint16 if tiles * n <= 1 << 16 else np.uint32)
    weight = np.empty(int(indptr[-1]), dtype=np.int16)
    delays = chip.core.max_delay > 1 and bool(np.any(flat["axon_delay"] != 1))
    delay = np.empty(int(indptr[-1]) if delays else 0, dtype=np.uint8)
    for m, row, fb, fl, fx, fy, fa in lists:
        K.walk_fill(
            m,
            width,
            fb,
            fl,
            fx,
            fy,
            fa,
            flat["axon_base"],
            flat["axon_len"],
            flat["axon_exp"],
            flat["axon_delay"],
            n_axons,
            flat["syn_off"],
            flat["syn_target"],
            flat["syn_weight"],
            n,
            indptr,
            row,
            post,
            weight,
            delay,
        )
    return indptr, post, weight, (delay if delays else None)


def fast_from_image(image):
    """A :class:`~spikemesh.sim.fast.FastSim` over the image's neuron slots, built by walking
    the image's tables (fan-out -> axon -> synapse row), so what it runs is what the chip runs."""
    from .fast import FastSim

    t0 = time.perf_counter()
    params, u0, v0 = image_neurons(image)
    indptr, post, weight, delay = image_csr(image)
    sim = FastSim(
        indptr=indptr,
        post=post,
        weight=weight,
        **{k: params[:, i] for i, k in enumerate(PROFILE_COLUMNS)},
        u0=u0,
        v0=v0,
        num_sources=image.num_sources,
        acc_bits=image.chip.core.acc_bits,
        recorded=image.neuron_slot[image.recorded],
        delay=delay,
    )
    sim.setup_time = time.perf_counter() - t0
    return sim


def result_in_network_order(img, r, inputs, t0: float, extra) -> Result:
    """A functional run over the image's neuron slots (``r``) as the network's Result:
    spikes and final state in network neuron order (``img.neuron_slot``)."""
    slot = img.neuron_slot
    return Result(
        spikes=r.spikes[:, slot],
        inputs=inputs,
        recorded=img.recorded,
        u=r.u,
        v=r.v,
        final_u=r.final_u[slot].astype(np.int32),
        final_v=r.final_v[slot].astype(np.int32),
        backend="tlm",
        wall_time=time.perf_counter() - t0,
        extra=extra,
    )


class ChipModel:
    """Functional chip model over a ChipImage (``backend="tlm"`` results).

    It runs the fast kernel on the slot-level synapses that :func:`image_synapses`
    walks out of the image, then maps slots back to network neurons.
    """

    def __init__(self, image):
        image.check()
        self.image = image
        self.chip = image.chip
        self.sim = fast_from_image(image)

    def run(self, ticks: int, inputs: np.ndarray, *, progress=False) -> Result:
        """Run ``ticks`` ticks with the input raster ``inputs`` (bool [ticks, S])."""
        t0 = time.perf_counter()
        img = self.image
        inputs = np.asarray(inputs, dtype=bool)
        if inputs.shape != (ticks, img.num_sources):
            raise ValueError(
                f"inputs must have shape ({ticks}, {img.num_sources}), not {inputs.shape}"
            )
        r = self.sim.run(ticks, inputs, progress=progress)
        return result_in_network_order(img, r, inputs, t0, r.extra)


class TimedChipModel:
    """Cycle-level chip model: CoreModels + MeshModel + HostLinkModel in lock step.

    It consumes the same host command stream as the RTL chip, with the host
    offering its next command and taking responses as a ready/valid schedule
    says (by default in every cycle), and returns every response with the
    cycle it was taken in. The host's streams
    pass through the chip's command and response FIFOs (``host_fifo_depth``,
    twins of amaranth.lib.fifo.SyncFIFOBuffered) on their way to and from the
    host link. Composition rule (all block boundaries are Moore,
    docs/hostlink.md): sample every block's registered outputs, compute the
    transfers, clock every block.

    With ``chip.counter_bits`` > 0 the chip has the activity counters of docs/counters.md:
    :meth:`counter_registers` gives their contents in READ_COUNTER order, READ_COUNTER runs
    its pipeline through the tiles as rtl/chip.py does, and every run appends the registers
    at the end of each cycle in which a tick ends (TICK_DONE queued) to
    ``tick_registers`` (int64 [ticks so far, tiles * 16 + 2]).
    """

    def __init__(self, chip):
        from spikemesh.config import flit_layout
        from spikemesh.faults import start_tables
        from spikemesh.layouts import config_addr_bits

        from .core import CoreModel
        from .hostlink import HostLinkModel, SyncFIFOBufferedModel
        from .mesh import MeshModel

        self.chip = chip
        self.cores = [
            CoreModel(chip, x=t % chip.width, y=t // chip.width) for t in range(chip.tiles)
        ]
        # router.route_tables: every router routes by its table (XY after reset) and takes
        # ROUTE writes from the host link (spikemesh.layouts), as rtl/chip.py builds it
        self.mesh = MeshModel(chip, routing=start_tables(chip))
        self.host = HostLinkModel(chip)
        self.cmd_fifo = SyncFIFOBufferedModel(chip.host_fifo_depth)
        self.rsp_fifo = SyncFIFOBufferedModel(chip.host_fifo_depth)
        fl = flit_layout(chip)
        self._payload_off = fl.offsets["payload"]
        self._payload_mask = (1 << fl["payload"].width) - 1
        self._axon_mask = (1 << chip.core.axon_bits) - 1
        self._addr_mask = (1 << config_addr_bits(chip)) - 1
        self._neuron_mask = (1 << chip.core.neuron_bits) - 1
        self._dx_mask = (1 << fl["dest_x"].width) - 1
        self._dx_off, self._dy_off = fl.offsets["dest_x"], fl.offsets["dest_y"]
        self.cycle = 0
        # cycles in which the host link held a response the response FIFO could not take:
        # the host's backpressure reached the chip's inside
        self.rsp_blocked = 0
        # the chip's registers on start, parity (to the cores) and all_done (to the host link)
        self._start_r = self._parity_r = self._all_done_r = 0
        self._learn_only_r = 0  # a learning chip's learn_only register (LEARN_FLUSH)
        self.learn = bool(chip.core.learning)
        # activity counters (docs/counters.md): the tiles' registered selected value, the
        # chip's register of the addressed tile's, the chip's wrap-flag OR register, and
        # the registers at every tick's end
        self._cnt_tile_q = self._cnt_chip_q = self._cnt_wrap_r = 0
        self._tick_rows = []
        self.tick_registers = np.zeros((0, chip.tiles * HW_TILE_COUNT + 2), dtype=np.int64)

    # --- activity counters ---------------------------------------------------------------
    def counter_registers(self) -> np.ndarray:
        """int64 [tiles * 16 + 2]: every counter register's content now, in READ_COUNTER
        order (tile t = y * width + x at t * 16 + k for HW_TILE_REGISTERS[k]; then
        host_injected, cycles)."""
        if not self.chip.counter_bits:
            raise ValueError(
                "this chip has no activity counters (ChipConfig.counter_bits = 0); build it "
                "with counter_bits between 16 and 48"
            )
        mask = (1 << self.chip.counter_bits) - 1
        regs = []
        for core, router in zip(self.cores, self.mesh._flat, strict=True):
            regs += core.counts
            regs += router.counts
        regs += [self.host.host_injected, self.host.cycles_total]
        return np.array([r & mask for r in regs], dtype=np.int64)

    def _tile_counter(self, x, y, index):
        """The register ``index`` of tile (x, y) as its ``cnt_value`` register loads it."""
        if index >= HW_TILE_COUNT:
            return 0
        t = y * self.chip.width + x
        core = self.cores[t]
        core.counter_select(index)
        if index < len(core.counts):
            return core.cnt_value
        router = self.mesh._flat[t]
        router.counter_select(index)
        return router.cnt_value

    def _counters_before(self, inp):
        """This cycle's counter inputs of the host link, and the registers' next values
        (computed from the state at the start of the cycle, before any block is clocked)."""
        host = self.host
        inp["counter_value"] = self._cnt_chip_q
        inp["counter_wrapped"] = self._cnt_wrap_r
        s1, s2, _ = host.cnt_stages
        tile_q = self._tile_counter(*host.cnt_sel) if s1 else self._cnt_tile_q
        chip_q = self._cnt_tile_q if s2 else self._cnt_chip_q
        wrapped = any(c.cnt_wrapped for c in self.cores) or self.mesh.cnt_wrapped
        return tile_q, chip_q, int(wrapped), host.cnt_clear, host.td

    def _counters_after(self, before):
        """End of the cycle: RESET's clear pulse zeroes the tiles' counters (after this
        cycle's increments), the chip's registers load, and a tick that ended this cycle
        records the registers."""
        tile_q, chip_q, wrapped, clear, td = before
        if clear:
            for c in self.cores:
                c.counter_clear()
            self.mesh.counter_clear()
        self._cnt_tile_q, self._cnt_chip_q = tile_q, chip_q
        self._cnt_wrap_r = 0 if clear else wrapped
        if td is None and self.host.td is not None:
            self._tick_rows.append(self.counter_registers())

    def load_image(self, image):
        """Place ``image`` in every core's memories before cycle 0 (``CoreModel.load``: the
        state that ``config_commands(image)`` leaves behind), instead of spending cycles
        writing it over the host link."""
        from spikemesh.errors import ImageError

        image.check()
        if image.chip != self.chip:
            raise ImageError(
                f"the image is compiled for a {image.chip.width} x {image.chip.height} chip "
                f"({image.chip.core.neurons} neurons per core), this model is "
                f"{self.chip.width} x {self.chip.height} ({self.chip.core.neurons})"
            )
        for core, img in zip(self.cores, image.cores, strict=True):
            core.load(img)

    def _route_write(self, tile, addr, data):
        """A completed CONFIG_WRITE to the ROUTE region becomes the mesh's route write (the
        cores ignore region 7), as rtl/chip.py decodes it into ``Mesh.i_route``."""
        from spikemesh.layouts import RouteIndex, decode_route_write

        w = decode_route_write(self.chip, addr, data)
        if w is None:
            return
        index, f = w
        if index == RouteIndex.TABLE:
            self.mesh.write_route(tile, 0, f["entry"], f["port"])
        else:
            self.mesh.write_route(tile, 1, 0, f["link_off"])

    def _inject_flit(self, c):
        # kind = SPIKE (0); dest_x is the unsigned tile x zero-extended into the signed field
        return (
            ((c["tile_x"] & self._dx_mask) << self._dx_off)
            | (c["tile_y"] << self._dy_off)
            | ((c["arg"] & self._payload_mask) << self._payload_off)
        )

    def _clock_cores(self, cmd, tile, o, mesh_out, outs, mesh_in):
        """Clock every core one cycle: its mesh port's event (``mesh_out``: the mesh's
        valid/payload/ready lists), the registered start and parity, and the host link's
        configuration write or state read (``o``: its combinational outputs) for ``cmd``
        at ``tile``; then put each core's flit and event-ready into ``mesh_in`` (the
        mesh's next input valid/payload/ready lists)."""
        mv, mp, mr = mesh_out
        ev_valid, ev_payload, o_ready = mesh_in
        start, parity = self._start_r, self._parity_r
        learn = {"learn_only": self._learn_only_r} if self.learn else {}
        if cmd is not None:
            cfg_addr, cfg_data = cmd["arg"] & self._addr_mask, cmd["data"]
            rd_index = cmd["arg"] & self._neuron_mask
        else:
            cfg_addr = cfg_data = rd_index = 0
        for k, c in enumerate(self.cores):
            mine = k == tile
            # address/data/index are broadcast to every core, as in the RTL;
            # only the valids are tile-selected
            c.clock(
                event_valid=mv[k],
                event=(mp[k] >> self._payload_off) & self._axon_mask,
                flit_ready=mr[k],
                start=start,
                parity=parity,
                config_valid=int(o["cfg_valid"] and mine),
                config_addr=cfg_addr,
                config_data=cfg_data,
                read_valid=int(o["read_valid"] and mine),
                read_index=rd_index,
                read_ready=o["read_in_ready"],
                **learn,
                **(
                    {
                        "lread_valid": int(o["lread_valid"] and mine),
                        "lread_addr": cfg_addr,
                        "lread_ready": o["lread_in_ready"],
                    }
                    if self.learn
                    else {}
                ),
            )
            ev_valid[k] = outs[k].flit_valid
            ev_payload[k] = outs[k].flit
            o_ready[k] = outs[k].event_ready

    def run(self, commands, *, max_cycles=10_000_000, on_tick=None, schedule=None):
        """Process ``commands`` (dicts as in firmware.loader) until all are taken and the chip
        is quiet; return a list of (cycle, op, a, b) responses, each with the cycle the host
        took it in.

        ``schedule``: the host's ready/valid schedule (firmware.loader.host_schedule), by the
        model's cycle count; None: the host offers its next command in every cycle and takes
        every response at once.
        """
        from spikemesh.firmware.loader import check_schedule

        may_offer, ready_at = check_schedule(schedule) if schedule is not None else ([1], [1])
        period = len(may_offer)
        held = False  # the host offered a command last cycle that was not taken
        host, mesh, cores = self.host, self.mesh, self.cores
        cmd_fifo, rsp_fifo = self.cmd_fifo, self.rsp_fifo
        tiles = len(cores)
        width = self.chip.width
        end = mesh.host
        pending = list(commands)
        pos = 0
        responses = []
        ev_valid = [0] * (tiles + 1)
        ev_payload = [0] * (tiles + 1)
        o_ready = [0] * (tiles + 1)
        inp = {"misroute": 0}
        idle_cycles = 0
        counters = bool(self.chip.counter_bits)
        while True:
            if self.cycle >= max_cycles:
                raise RuntimeError(f"the timed model ran {max_cycles:,} cycles without finishing")
            outs = [c.outputs() for c in cores]
            mv, mp, mr = mesh.outputs()
            cmd = host.cmd
            tile = (cmd["tile_y"] * width + cmd["tile_x"]) if cmd is not None else -1
            sel = outs[tile] if 0 <= tile < tiles and cmd["tile_x"] < width else None
            reader = next((o for o in outs if o.read_valid), None)
            phase = self.cycle % period
            # a valid, once raised, holds until the transfer (the stream rule)
            offer = pos < len(pending) and (held or bool(may_offer[phase]))
            rsp_ready = int(ready_at[phase])
            inp["cmd_valid"] = cmd_fifo.r_rdy
            inp["cmd"] = cmd_fifo.out
            inp["rsp_ready"] = rsp_fifo.w_rdy
            inp["cfg_ready"] = sel.config_ready if sel else 0
            inp["read_ready"] = sel.read_ready if sel else 0
            inp["inject_ready"] = mr[end]
            inp["read_valid"] = int(reader is not None)
            inp["read_u"] = reader.read_u & 0xFFFFFF if reader else 0
            inp["read_v"] = reader.read_v & 0xFFFFFF if reader else 0
            if self.learn:  # READ_LEARNED: the addressed core's i_lread, any core's o_lread
                answer = next((o for o in outs if o.lread_valid), None)
                inp["lread_ready"] = sel.lread_ready if sel else 0
                inp["lread_valid"] = int(answer is not None)
                inp["lread_data"] = answer.lread_data if answer else 0
            inp["host_valid"] = mv[end]
            inp["host_payload"] = (mp[end] >> self._payload_off) & self._payload_mask
            # start, parity and all_done pass through registers (rtl/chip.py)
            inp["all_done"] = self._all_done_r
            all_done = int(mesh.idle and all(o.done and o.idle for o in outs))
            inp["flits_in"], inp["flits_out"] = mesh.flits_in, mesh.flits_out
            inp["misroute"] = mesh.misroute
            cnt = self._counters_before(inp) if counters else None
            o = host.comb(inp)
            if rsp_fifo.r_rdy and rsp_ready:
                responses.append((self.cycle, *(int(x) for x in rsp_fifo.out)))
                if on_tick is not None and rsp_fifo.out[0] == 2:  # Rsp.TICK_DONE
                    on_tick(int(rsp_fifo.out[1]) + 1)
            self._clock_cores(cmd, tile, o, (mv, mp, mr), outs, (ev_valid, ev_payload, o_ready))
            ev_valid[end] = o["inject_valid"]
            ev_payload[end] = self._inject_flit(cmd) if o["inject_valid"] else 0
            o_ready[end] = o["host_ready"]
            mesh.clock(ev_valid, ev_payload, o_ready)
            if o["cfg_valid"] and inp["cfg_ready"] and mesh.routing is not None:
                self._route_write(tile, cmd["arg"] & self._addr_mask, cmd["data"])
            self.rsp_blocked += o["rsp_valid"] and not inp["rsp_ready"]
            rsp_fifo.clock(o["rsp_valid"], o["rsp"], rsp_ready)
            taken = offer and cmd_fifo.w_rdy
            cmd_fifo.clock(offer, pending[pos] if offer else None, o["cmd_ready"])
            host.clock(inp)
            self._start_r, self._parity_r, self._all_done_r = o["start"], o["parity"], all_done
            self._learn_only_r = o["learn_only"]
            if counters:
                self._counters_after(cnt)
            pos += taken
            held = offer and not taken
            self.cycle += 1
            quiet = (
                pos == len(pending)
                and cmd_fifo.level == 0
                and rsp_fifo.level == 0
                and host.cmd is None
                and not host.running
                and host.ticks_left == 0
                and host.td is None
                and host.rsp is None
                and host.spike is None
                and host.state is None
                and host.learned is None
                and not host.read_outstanding
                and host.status is None
                and not host.counter_busy
            )
            idle_cycles = idle_cycles + 1 if quiet else 0
            if idle_cycles > 2:
                if counters:
                    self.tick_registers = np.array(self._tick_rows, dtype=np.int64).reshape(
                        len(self._tick_rows), self.chip.tiles * HW_TILE_COUNT + 2
                    )
                return responses
