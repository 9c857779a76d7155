"""Host-side loading and running of a chip image over the host link.

The host link speaks the command/response words of ``spikemesh.hostlink``.
This module turns an image into those words and responses back into a
:class:`~spikemesh.golden.Result`; the transports (cocotb streams in
tb/chip, the timed TLM, the UART bridge of a board) only move the words.
"""

from __future__ import annotations

import numpy as np

from spikemesh.config import host_source_layout
from spikemesh.errors import SpikemeshError
from spikemesh.golden import Result
from spikemesh.hostlink import Cmd, Rsp, command_layout, response_layout
from spikemesh.layouts import config_data_bits, core_config_writes


def command(op, *, tile_x=0, tile_y=0, arg=0, data=0) -> dict:
    return {
        "op": int(op),
        "tile_x": int(tile_x),
        "tile_y": int(tile_y),
        "arg": int(arg),
        "data": int(data),
    }


def config_commands(image) -> list[dict]:
    """CONFIG_WRITE commands that load every core of ``image``."""
    chip = image.chip
    cmds = []
    for t, core in enumerate(image.cores):
        x, y = t % chip.width, t // chip.width
        for addr, data in core_config_writes(chip, core):
            cmds.append(command(Cmd.CONFIG_WRITE, tile_x=x, tile_y=y, arg=addr, data=data))
    return cmds


def run_commands(image, inputs: np.ndarray, ticks: int) -> list[dict]:
    """RUN ``ticks``, then each tick's INPUT events (from the input raster) and END_TICK."""
    inputs = np.asarray(inputs, dtype=bool)
    if inputs.shape != (ticks, image.num_sources):
        raise SpikemeshError(
            f"inputs must have shape ({ticks}, {image.num_sources}), not {inputs.shape}"
        )
    cmds = [command(Cmd.RUN, arg=ticks)]
    ptr, sx, sy, sa = image.src_ptr, image.src_x, image.src_y, image.src_axon
    for t in range(ticks):
        for s in np.flatnonzero(inputs[t]):
            for k in range(ptr[s], ptr[s + 1]):
                cmds.append(command(Cmd.INPUT, tile_x=sx[k], tile_y=sy[k], arg=sa[k]))
        cmds.append(command(Cmd.END_TICK))
    return cmds


def read_state_commands(image) -> list[dict]:
    """READ_STATE for every network neuron, in network order."""
    chip = image.chip
    n = chip.core.neurons
    cmds = []
    for slot in image.neuron_slot.tolist():
        t, i = divmod(slot, n)
        cmds.append(command(Cmd.READ_STATE, tile_x=t % chip.width, tile_y=t // chip.width, arg=i))
    return cmds


def pack_commands(image, cmds) -> list[int]:
    lay = command_layout(image.chip, config_data_bits(image.chip))
    return [lay.pack(**c) for c in cmds]


def unpack_responses(words) -> list[tuple[int, int, int]]:
    lay = response_layout()
    out = []
    for w in words:
        r = lay.unpack(w)
        out.append((r["op"], r["a"], r["b"]))
    return out


def _signed24(x):
    x &= (1 << 24) - 1
    return x - (1 << 24) if x >> 23 else x


def decode_run(image, responses, ticks: int, inputs, *, state=None, backend="rtl") -> Result:
    """Build a Result from the responses of a run (and optional STATE responses, network order).

    Raises SpikemeshError when a SPIKE names a slot no neuron is placed on, or
    a TICK_DONE is missing or out of order — never silently drops an event.
    """
    chip = image.chip
    n = chip.core.neurons
    src = host_source_layout(chip)
    slot_to_neuron = np.full(chip.neurons, -1, dtype=np.int64)
    slot_to_neuron[image.neuron_slot] = np.arange(image.num_neurons)
    spikes = np.zeros((ticks, image.num_neurons), dtype=bool)
    cycles = np.zeros(ticks, dtype=np.int64)
    next_tick = 0
    states = []
    for op, a, b in responses:
        if op == Rsp.SPIKE:
            s = src.unpack(b)
            slot = (s["y"] * chip.width + s["x"]) * n + s["neuron"]
            nid = slot_to_neuron[slot] if slot < slot_to_neuron.size else -1
            if nid < 0:
                raise SpikemeshError(
                    f"a SPIKE came from core ({s['x']},{s['y']}) neuron "
                    f"{s['neuron']}, where no network neuron is placed"
                )
            if a >= ticks:
                raise SpikemeshError(f"a SPIKE is stamped tick {a}, the run had {ticks} ticks")
            if spikes[a, nid]:
                raise SpikemeshError(f"neuron {nid} reported twice in tick {a}")
            spikes[a, nid] = True
        elif op == Rsp.TICK_DONE:
            if a != next_tick:
                raise SpikemeshError(f"TICK_DONE for tick {a}, expected tick {next_tick}")
            cycles[a] = b
            next_tick += 1
        elif op == Rsp.STATE:
            states.append((_signed24(b), _signed24(b >> 24)))
    if next_tick != ticks:
        raise SpikemeshError(f"the run ended after {next_tick} of {ticks} ticks")
    rec = image.recorded
    if state is None:
        state = states
    if len(state) == image.num_neurons:
        fu = np.array([s[0] for s in state], dtype=np.int32)
        fv = np.array([s[1] for s in state], dtype=np.int32)
    else:
        fu = fv = np.zeros(0, dtype=np.int32)
    return Result(
        spikes=spikes,
        inputs=np.asarray(inputs, dtype=bool),
        recorded=rec,
        u=np.zeros((ticks, 0), dtype=np.int32),
        v=np.zeros((ticks, 0), dtype=np.int32),
        final_u=fu,
        final_v=fv,
        cycles=cycles,
        backend=backend,
    )
