"""A spiking classifier trained in snnTorch, moved to the chip through NIR (docs/nir.md).

    .venv/bin/python examples/nir_classifier.py [--backend golden|tlm|tlm-timed|rtl] [--out DIR]

1. Synthetic data, made here (no downloads): three classes of 20-channel spike trains,
   each class firing a different group of channels at a higher rate.
2. A two-layer snnTorch network (Linear, Leaky, Linear, Leaky; zero reset) is trained
   with surrogate gradients on the output spike counts.
3. snnTorch's own exporter writes it as NIR; ``import_nir(flavor="snntorch",
   reset="zero")`` maps it to the chip and prints the quantization report.
4. All test samples run back to back on the chosen backend (a gap of silent ticks
   between samples lets the state decay); the predicted class is the output neuron with
   the most spikes in the sample's window, shifted by the output layer's latency.

Needs the ``[nir]`` extra (torch, snnTorch); see docs/nir.md for installing torch's CPU wheel.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

T, GAP, N_IN, N_HID, N_CLS = 40, 30, 20, 24, 3


def make_data(n, seed):
    """n samples: bool spikes [n, T, N_IN] and labels [n]."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLS, n)
    rates = np.full((N_CLS, N_IN), 0.05)
    for c in range(N_CLS):
        rates[c, c * 5 : c * 5 + 10] = 0.1  # overlapping groups, close rates: not trivial
    x = rng.random((n, T, N_IN)) < rates[labels][:, None, :]
    return x, labels


def build(torch, snn):
    def leaky(n):
        return snn.Leaky(
            beta=torch.full((n,), 0.9),
            threshold=torch.ones(n),
            init_hidden=True,
            reset_mechanism="zero",
        )

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(N_IN, N_HID), leaky(N_HID), torch.nn.Linear(N_HID, N_CLS), leaky(N_CLS)
    )


def run_float(torch, model, x):
    """Output spike counts [n, N_CLS] of the float model, each sample from rest."""
    for m in model.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    counts = 0
    for t in range(x.shape[1]):
        counts = counts + model(x[:, t])
    return counts


def train(torch, model, x, y, epochs):
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    for _ in range(epochs):
        for i in range(0, len(x), 25):
            loss = torch.nn.functional.cross_entropy(
                run_float(torch, model, xt[i : i + 25]), yt[i : i + 25]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()


def back_to_back(x):
    """All samples in one input raster, GAP silent ticks after each."""
    raster = np.zeros((len(x) * (T + GAP), N_IN), dtype=bool)
    for s in range(len(x)):
        raster[s * (T + GAP) : s * (T + GAP) + T] = x[s]
    return raster


def chip_counts(net, report, n, backend):
    """Output spike counts [n, N_CLS] of the n samples run back to back on ``backend``."""
    from spikemesh.backends import run_backend

    step = T + GAP
    out = net.populations[-1]
    lag = report.latency[out.name]
    args = argparse.Namespace(chip=None, acc_bits=24, progress=False, load=None, runner=None)
    result = run_backend(backend, net, n * step + lag, args)
    spikes = result.spikes[:, out.offset : out.offset + out.size]
    return np.stack([spikes[s * step + lag : s * step + lag + T].sum(0) for s in range(n)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="golden", help="golden, tlm, tlm-timed or rtl")
    ap.add_argument("--out", default=None, help="also write model.nir and model.yaml here")
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch/snnTorch/nirtorch deprecations at import
        import nir
        import snntorch as snn
        import torch
        from snntorch.export_nir import export_to_nir

    torch.set_num_threads(1)  # small tensors: threads only contend
    from spikemesh.netfile import dump_network
    from spikemesh.nir_io import import_nir

    x_train, y_train = make_data(300, seed=1)
    x_test, y_test = make_data(150, seed=2)
    model = build(torch, snn)
    t0 = time.perf_counter()
    train(torch, model, x_train, y_train, args.epochs)
    with torch.no_grad():
        pred = run_float(torch, model, torch.tensor(x_test, dtype=torch.float32)).argmax(1)
    float_acc = float((pred.numpy() == y_test).mean())
    took = time.perf_counter() - t0
    print(f"snnTorch float model: test accuracy {float_acc:.3f} (trained in {took:.1f} s)")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch.extract_nir_graph
        graph = export_to_nir(model, torch.zeros(1, N_IN), ignore_dims=[0])
    net, report = import_nir(
        graph,
        flavor="snntorch",
        reset="zero",
        name="nir_classifier",
        inputs={"input": back_to_back(x_test)},
    )
    print(report.format())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        nir.write(out / "model.nir", graph)
        (out / "model.yaml").write_text(dump_network(net))
    t0 = time.perf_counter()
    counts = chip_counts(net, report, len(x_test), args.backend)
    chip_acc = float((counts.argmax(1) == y_test).mean())
    print(
        f"chip ({args.backend}): test accuracy {chip_acc:.3f} "
        f"({len(x_test)} samples in {time.perf_counter() - t0:.1f} s); float {float_acc:.3f}"
    )
    return float_acc, chip_acc


if __name__ == "__main__":
    main()
