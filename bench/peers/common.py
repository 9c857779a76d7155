"""What every peer shares: loading the exported workload and reporting one JSON line.

A peer is run as ``python -m bench.peers.<name> WORKLOAD.npz [options]`` in its own
process, so that its peak RSS is its own. It prints one JSON object on its last stdout
line: ``setup_s`` (network -> ready, including any code generation and compilation),
``simulate_s`` (the tick loop only), ``neuron_spikes``, ``input_spikes`` and ``rss_mb``
(peak resident set of the process and of any child it waited for, e.g. Brian2's binary).
"""

from __future__ import annotations

import json
import resource
import sys

import numpy as np


def load(path):
    """The exported workload (see bench.workload.export_workload) as a dict of arrays/ints."""
    with np.load(path) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


def peak_rss_mb() -> float:
    """Peak RSS of this process or of any finished child (Linux: ru_maxrss is in KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def report(**fields) -> None:
    fields["rss_mb"] = round(peak_rss_mb(), 1)
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()
