"""The STDP window measured through the public API: the weight change one pre/post pair
makes for t_post - t_pre = -40..+40 ticks equals what the configured amplitudes and decays
give (docs/learning.md "The rule"), on golden and on the fast TLM alike.

``python -m tests.test_stdp_window`` redraws docs/stdp-window.png.
"""

from pathlib import Path

import numpy as np
from spikemesh.sim.fast import run_fast

from spikemesh.golden import run_golden
from spikemesh.network import Network

PROFILE = dict(
    a_plus=60,
    a_plus_shift=6,
    a_minus=40,
    a_minus_shift=6,
    pre_inc=127,
    pre_decay=230,
    post_inc=127,
    post_decay=215,
    w_min=-128,
    w_max=127,
)
DTS = np.arange(-40, 41)
T_PRE = 50


def window_net():
    """One post neuron per dt, each with its own pre channel (event at T_PRE) and a driver
    that makes it fire at T_PRE + dt."""
    k = DTS.size
    net = Network("window")
    net.population("post", k, du=4095, dv=4095, vth=200)
    net.source("pre", k, spikes=[(T_PRE, i) for i in range(k)])
    net.source("drv", k, spikes=[(T_PRE + int(dt) - 1, i) for i, dt in enumerate(DTS)])
    net.connect("drv", "post", connectivity="one_to_one", weight=127, weight_exp=1)
    net.connect("pre", "post", connectivity="one_to_one", weight=0, plasticity=PROFILE)
    return net


def measured():
    net = window_net()
    g = run_golden(net, T_PRE + 50)
    f = run_fast(net, T_PRE + 50)
    assert g.diff(f) == []
    post_ticks = [np.flatnonzero(g.spikes[:, i]).tolist() for i in range(DTS.size)]
    assert post_ticks == [[T_PRE + int(dt)] for dt in DTS]
    return g.extra["weights"][1].astype(int)  # initial weight 0: the change itself


def expected(dt):
    """The window from the profile alone: k iterated floor decays of the increment."""
    p = PROFILE
    if dt == 0:
        return 0
    inc, dec, a, s, sign = (
        (p["pre_inc"], p["pre_decay"], p["a_plus"], p["a_plus_shift"], 1)
        if dt > 0
        else (p["post_inc"], p["post_decay"], p["a_minus"], p["a_minus_shift"], -1)
    )
    x = inc
    for _ in range(abs(int(dt))):
        x = (x * dec) >> 8
    return sign * ((a * x) >> s)


def test_window_matches_the_profile():
    dw = measured()
    want = [expected(dt) for dt in DTS]
    assert dw.tolist() == want
    # Shape: potentiation for dt > 0, depression for dt < 0, none at 0, decaying with |dt|.
    # dt = +1: D = 127*230 >> 8 = 114, 60*114 >> 6 = 106; dt = -1: D = 127*215 >> 8 = 106,
    # 40*106 >> 6 = 66.
    assert dw[DTS == 1][0] == 106 and dw[DTS == -1][0] == -66
    assert dw[DTS == 0][0] == 0
    assert np.all(np.diff(dw[DTS > 0]) <= 0) and np.all(np.diff(dw[DTS < 0]) <= 0)


FIGURE = Path(__file__).resolve().parents[1] / "docs" / "stdp-window.png"


def draw(path=FIGURE):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dw = measured()
    fine = np.linspace(-40, 40, 801)
    p = PROFILE
    ideal = np.where(
        fine > 0,
        p["a_plus"] * p["pre_inc"] * (p["pre_decay"] / 256) ** fine / 2 ** p["a_plus_shift"],
        -p["a_minus"] * p["post_inc"] * (p["post_decay"] / 256) ** -fine / 2 ** p["a_minus_shift"],
    )
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    ax.plot(fine[fine != 0], ideal[fine != 0], color="0.7", lw=1, label="real-valued exponential")
    ax.step(
        DTS,
        [expected(dt) for dt in DTS],
        where="mid",
        color="C0",
        lw=1,
        label="rule (iterated floor decay)",
    )
    ax.plot(DTS, dw, "o", ms=3.5, color="C3", label="measured (golden = tlm)")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("t_post - t_pre (ticks)")
    ax.set_ylabel("weight change (mantissa)")
    ax.set_title(
        f"STDP window: a+ {p['a_plus']}>>{p['a_plus_shift']}, a- {p['a_minus']}>>"
        f"{p['a_minus_shift']}, decays {p['pre_decay']}/256, {p['post_decay']}/256, inc 127",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    draw()
