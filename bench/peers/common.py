"""What every peer shares: loading the exported workload and reporting one JSON line.

A peer is run as ``python -m bench.peers.<name> WORKLOAD.npz [options]`` in its own
process, so that its peak RSS is its own. It prints one JSON object on its last stdout
line: ``setup_s`` (network -> ready, including any code generation and compilation),
``simulate_s`` (the tick loop only), ``neuron_spikes``, ``input_spikes`` and ``rss_mb``
(peak resident set of the process, see :func:`peak_rss_mb`).
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


def vm_hwm_kib() -> int:
    """Peak RSS of this process image (VmHWM). Unlike ru_maxrss it restarts at exec: Linux
    carries ru_maxrss across fork + exec, so a peer started by a big parent would report
    the parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # pragma: no cover


def peak_rss_mb() -> float:
    """Peak RSS of this process, or of a child it waited for (Brian2's binary) if larger.

    A child's ru_maxrss includes what it inherited at fork (this process's size then), so
    for Brian2 cpp_standalone the figure is an upper bound of the binary's own peak."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(vm_hwm_kib(), kids) / 1024


def report(**fields) -> None:
    fields["rss_mb"] = round(peak_rss_mb(), 1)
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()
