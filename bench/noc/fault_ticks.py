"""Cycles per tick of a real network on a faulty chip (compiled timed model).

Run: ``python -m bench.noc.fault_ticks`` (writes bench/noc/fault_ticks.json).

examples/ei_random.yaml spread over an 8 x 8 chip (8 neurons per core), 200 ticks, on the
compiled cycle-exact chip model (sim/timed.py), fault-free and with random dead links.
sim/timed.py does not pass an image's route tables to its mesh yet, so this script builds
the model itself and installs them (``topology(chip, image.routing)``), exactly what
``run_image_timed`` would do. The spikes must equal the fault-free run's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from spikemesh.firmware import compile_network
from spikemesh.firmware.loader import decode_run
from spikemesh.sim._timed_noc import topology
from spikemesh.sim.timed import (
    CompiledChipModel,
    read_state_array,
    run_command_array,
    run_image_timed,
)

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import CompileError
from spikemesh.faults import FaultMap
from spikemesh.netfile import load_network

HERE = Path(__file__).resolve().parent
TICKS = 200
CHIP = ChipConfig(
    width=8,
    height=8,
    core=CoreConfig(neurons=16, axons=1024, synapses=8192, fanout=1024, profiles=4),
)


def run_faulty(image, inputs, ticks):
    """run_image_timed (compiled, direct load) with the image's route tables in the mesh."""
    cmds = np.concatenate([run_command_array(image, inputs, ticks), read_state_array(image)])
    m = CompiledChipModel(image.chip)
    m.load_image(image)
    if image.routing is not None:
        m.nbr = topology(image.chip, image.routing)
    rsp = m.run_array(cmds, max_cycles=1 << 40)
    return decode_run(image, rsp[:, 1:], ticks, inputs, backend="tlm-timed")


def main():
    net = load_network(HERE.parents[1] / "examples" / "ei_random.yaml")
    inputs = net.input_raster(TICKS)
    img, _ = compile_network(net, CHIP, neurons_per_core=8)
    base, _ = run_image_timed(img, inputs, TICKS)
    same = run_faulty(img, inputs, TICKS)
    assert base.diff(same, cycles=True) == [], "the replica must equal run_image_timed"
    cyc0 = np.asarray(base.cycles, dtype=np.int64)
    out = {"network": "ei_random", "chip": "8x8, 8 neurons per core", "ticks": TICKS}
    out["fault_free"] = {"cycles_per_tick": float(cyc0.mean()), "max": int(cyc0.max())}
    out["faulty"] = []
    for links in (1, 2, 4, 8):
        for seed in range(3):
            faults = FaultMap.random(CHIP, seed=seed, links=links)
            try:
                fimg, _ = compile_network(net, CHIP, neurons_per_core=8, faults=faults)
            except CompileError:
                continue
            r = run_faulty(fimg, inputs, TICKS)
            assert base.diff(r) == [], f"{links} links seed {seed}: spikes differ"
            cyc = np.asarray(r.cycles, dtype=np.int64)
            row = {
                "links": links,
                "seed": seed,
                "routing": fimg.routing.order,
                "cycles_per_tick": float(cyc.mean()),
                "extra_percent": round(100 * (cyc.mean() / cyc0.mean() - 1), 2),
                "max": int(cyc.max()),
            }
            out["faulty"].append(row)
            print(json.dumps(row), flush=True)
    (HERE / "fault_ticks.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["fault_free"]))


if __name__ == "__main__":
    main()
