"""From NIR's float neurons to the chip's integers: flavors, formulas, quantization, report.

docs/nir.md states every formula used here. The importer (nir_io.py) turns a NIR
graph into :class:`LayerSpec` (one per neuron node: per-tick keep factors, gains,
threshold, bias, reset) and :class:`ProjSpec` (one per (pre, post, delay): a float
weight matrix in the post layer's voltage units); :func:`quantize_layer` picks one
scale per post layer and one weight exponent per projection.

The chip (chip.md §3) per tick::

    u = T(u * (4096 - (du + 1))) + (a << 6)      a = sum of w << e over events of t - 1
    v = T(v * (4096 - dv)) + u + (bias_mant << bias_exp)
    spike if v > vth << 6, then v = 0 (zero reset) or v - (vth << 6) (subtract reset),
    and `refractory` ticks held at 0

With chip v = 64 k * (float v), a float weight W (voltage units per spike) becomes
``w << e ~= k W``, the threshold ``vth = k theta``, the bias ``bias_mant << bias_exp
= 64 k b``: one scale k per population keeps them consistent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .config import DELAY_RANGE, PARAM_RANGES, WEIGHT_EXP_RANGE, WEIGHT_RANGE
from .errors import SpikemeshError

VTH_MAX = PARAM_RANGES["vth"][1]
BIAS_MANT_MAX = PARAM_RANGES["bias_mant"][1]
BIAS_EXP_MAX = PARAM_RANGES["bias_exp"][1]
W_LO, W_HI = WEIGHT_RANGE
E_MAX = WEIGHT_EXP_RANGE[1]
# a << 6 must fit u's 24 bits even when every input of a neuron fires in one tick.
INPUT_MAX = (1 << 17) - 1

# What the chip's neuron core can do today. Part 1 of issue 14 added reset by
# subtraction, part 2 synaptic delays (a projection's events integrated 1..15 ticks
# later; a chip runs up to its CoreConfig.max_delay, the compiler refuses longer ones).
# The importer consults only this table, so adding a feature here (and its keyword in
# _build_network) is the switch.
CHIP_RESETS = ("zero", "subtract")  # config.RESET_MODES: both are chip profiles now
CHIP_MAX_DELAY = DELAY_RANGE[1]  # ticks: the longest delay of any chip (max_delay 15)


class NIRError(SpikemeshError, ValueError):
    """A NIR graph or file the chip cannot run, or a broken file; the message says why."""


@dataclass(frozen=True)
class Flavor:
    """How a framework's exported numbers mean per-tick dynamics (docs/nir.md, "Flavors").

    Members
    -------
    dt : float or None
        Time step used when neither ``dt=`` nor the file gives one.
    decay : str
        ``euler``: keep = 1 - dt/tau; ``exp``: keep = exp(-dt/tau).
    tau_per_dt : bool
        The file's tau is dt times the real one (Norse's exporter writes dt / tau_inv).
    syn_gain : str
        CubaLIF input into I per unit of weight: ``euler`` w_in dt/tau_syn, ``exp``
        w_in (1 - alpha), ``jump`` w_in.
    v_gain : str
        Input into v per unit of current: ``euler`` r dt/tau, ``exp`` r (1 - beta); IF:
        r dt (``euler``, ``exp``) or r (``jump``).
    reset : str
        Reset when the caller does not choose: ``file`` (v_reset, i.e. zero) or
        ``subtract`` (snnTorch's default reset_mechanism, which its exporter drops).
    cuba_zero_refractory : int
        Ticks v stays 0 after a spike of a zero-reset CubaLIF (snnTorch's Synaptic
        zeroes the whole next step's membrane: 1).
    rec_zero_refractory : int
        The same for a zero-reset LIF that drives itself (snnTorch's RLeaky, the only
        layer its exporter writes as a recurrent LIF, also zeroes the next step; its
        feed-forward Leaky does not).
    """

    name: str
    dt: float | None
    decay: str
    tau_per_dt: bool
    syn_gain: str
    v_gain: str
    reset: str
    cuba_zero_refractory: int
    rec_zero_refractory: int


FLAVORS = {
    "spec": Flavor("spec", None, "exp", False, "exp", "exp", "file", 0, 0),
    "snntorch": Flavor("snntorch", 1e-4, "euler", False, "euler", "euler", "subtract", 1, 1),
    "norse": Flavor("norse", 1e-3, "euler", True, "jump", "euler", "file", 0, 0),
}


def get_flavor(name) -> Flavor:
    if isinstance(name, Flavor):
        return name
    if name not in FLAVORS:
        raise NIRError(f"unknown NIR flavor {name!r}; known flavors: {', '.join(FLAVORS)}")
    return FLAVORS[name]


def keep_factor(tau, dt, flavor: Flavor):
    """Per-tick keep factor of a state with time constant tau (seconds as in the file)."""
    tau = np.asarray(tau, dtype=np.float64)
    if flavor.tau_per_dt:
        tau = tau / dt
    if flavor.decay == "exp":
        return np.exp(-dt / tau)
    return 1.0 - dt / tau


def du_from_keep(alpha):
    """u keeps (4095 - du) / 4096 per tick (chip.md §3), so du = 4095 - 4096 alpha."""
    return int(np.clip(np.rint(4095.0 - 4096.0 * alpha), 0, 4095))


def dv_from_keep(beta):
    """v keeps (4096 - dv) / 4096 per tick, so dv = 4096 (1 - beta)."""
    return int(np.clip(np.rint(4096.0 * (1.0 - beta)), 0, 4095))


@dataclass
class LayerSpec:
    """One neuron node as per-tick float dynamics (what quantize_layer turns into a profile).

    ``alpha`` is u's keep factor (0 for LIF/IF: u is this tick's input only), ``beta``
    v's; ``theta`` the threshold and ``bias`` the constant added to v each tick, both
    in the node's own voltage units; ``reset`` is ``zero`` or ``subtract``.
    """

    node: str
    kind: str
    size: int
    alpha: float
    beta: float
    theta: float
    bias: float
    reset: str = "zero"
    refractory: int = 0
    notes: list = field(default_factory=list)


@dataclass
class ProjSpec:
    """Float weights [post, pre] in the post layer's voltage units, with a delay in ticks.

    ``extra_delay`` counts the NIR Delay nodes' steps on the path; on the chip the
    projection takes ``1 + extra_delay`` ticks (one tick per hop is the chip's minimum).
    """

    pre: str
    post: str
    weight: np.ndarray
    extra_delay: int = 0


@dataclass
class QuantProj:
    pre_idx: np.ndarray
    post_idx: np.ndarray
    weight: np.ndarray
    exp: int
    clipped: int
    zeroed: int
    max_rel: float
    mean_rel: float


@dataclass
class QuantLayer:
    params: dict  # du, dv, vth, bias_mant, bias_exp, refractory
    scale: float  # k: vth units per float voltage unit
    projs: list
    theta_err: float
    tau_note: str
    rate_effect: float


def _mantissa(values, lo, hi, emax):
    """Smallest exponent that fits ``values`` in [lo, hi] (else emax, clipped), and mantissas."""
    m = float(np.max(np.abs(values))) if values.size else 0.0
    e = 0
    while e < emax and m / (1 << e) >= hi + 0.5:
        e += 1
    raw = np.rint(values / (1 << e))
    clipped = int(np.count_nonzero((raw < lo) | (raw > hi)))
    return e, np.clip(raw, lo, hi).astype(np.int64), clipped


def _nonzero(projs):
    return [p.weight[p.weight != 0] for p in projs]


def _weight_error(nonzero, k):
    """Sum of |w << e - k W| / k over every synapse, and the sum of |W|
    (``nonzero``: each projection's non-zero float weights)."""
    err = tot = 0.0
    for w in nonzero:
        if not w.size:
            continue
        vals = k * w
        e, mant, _ = _mantissa(vals, W_LO, W_HI, E_MAX)
        err += float(np.sum(np.abs(mant * (1 << e) - vals))) / k
        tot += float(np.sum(np.abs(w)))
    return err, tot


def _bias_int(values):
    """One (mantissa, exponent) for a population's bias (one profile, so one value)."""
    e, mant, clipped = _mantissa(np.atleast_1d(values), -BIAS_MANT_MAX - 1, BIAS_MANT_MAX, 7)
    return int(mant[0]), e, clipped


def _error(layer, projs, k, nonzero=None):
    err, tot = _weight_error(_nonzero(projs) if nonzero is None else nonzero, k)
    total = err / tot if tot else 0.0
    if layer.theta > 0:
        total += abs(min(round(k * layer.theta), VTH_MAX) / k - layer.theta) / layer.theta
    b = layer.bias
    if b:
        mant, e, _ = _bias_int(np.array([64 * k * b]))
        total += abs(mant * (1 << e) / (64 * k) - b) / max(layer.theta, abs(b))
    return total


def candidate_scales(layer: LayerSpec, projs) -> np.ndarray:
    """Scales k worth trying: each projection's largest weight on 127 << e, the threshold
    on its largest mantissa, powers of two, and a log grid; all under the chip's limits."""
    kmax = math.inf
    if layer.theta > 0:
        kmax = VTH_MAX / layer.theta
    rows = np.zeros(layer.size)
    for p in projs:
        rows += np.sum(np.abs(p.weight), axis=1)
    if rows.max(initial=0) > 0:
        kmax = min(kmax, INPUT_MAX / rows.max())
    b = abs(layer.bias)
    if b:
        kmax = min(kmax, (BIAS_MANT_MAX << BIAS_EXP_MAX) / (64 * b))
    if not math.isfinite(kmax):
        return np.array([1.0])
    ks = [kmax]
    for p in projs:
        m = float(np.max(np.abs(p.weight), initial=0))
        if m > 0:
            ks += [W_HI * (1 << e) / m for e in range(E_MAX + 1)]
    ks += list(np.geomspace(kmax * 1e-4, kmax, 96))
    ks += [2.0**j for j in range(-20, 24)]  # exact for weights exported as w << e
    ks = np.array([x for x in ks if 0 < x <= kmax * (1 + 1e-12)])
    return np.unique(np.minimum(ks, kmax))


def choose_scale(layer: LayerSpec, projs) -> float:
    """The candidate k with the smallest total relative error; ties go to the larger k
    (finer threshold and bias steps)."""
    ks = candidate_scales(layer, projs)
    nonzero = _nonzero(projs)
    errs = np.array([_error(layer, projs, k, nonzero) for k in ks])
    best = errs.min()
    return float(ks[np.flatnonzero(errs <= best + 1e-12)[-1]])


def quantize_projection(p: ProjSpec, k: float) -> QuantProj:
    w = p.weight
    post, pre = np.nonzero(w)
    vals = k * w[post, pre]
    e, mant, clipped = _mantissa(vals, W_LO, W_HI, E_MAX)
    keep = mant != 0
    absw = np.abs(vals)
    diff = np.abs(mant * (1 << e) - vals)
    return QuantProj(
        pre_idx=pre[keep],
        post_idx=post[keep],
        weight=mant[keep],
        exp=e,
        clipped=clipped,
        zeroed=int(np.count_nonzero(~keep)),
        max_rel=float(diff.max() / absw.max()) if vals.size else 0.0,
        mean_rel=float(diff.sum() / absw.sum()) if vals.size else 0.0,
    )


def _tau_ticks(keep):
    return math.inf if keep >= 1 else (0.0 if keep <= 0 else -1.0 / math.log(keep))


def quantize_layer(layer: LayerSpec, projs) -> QuantLayer:
    """Profile integers for one population and its incoming projections (see module doc)."""
    k = choose_scale(layer, projs)
    vth = min(round(k * layer.theta), VTH_MAX)
    bias_mant, bias_exp, _ = _bias_int(np.array([64 * k * layer.bias]))
    du = 4095 if layer.alpha <= 0 else du_from_keep(layer.alpha)
    dv = dv_from_keep(layer.beta)
    qps = [quantize_projection(p, k) for p in projs]
    beta_q = (4096 - dv) / 4096
    alpha_q = (4095 - du) / 4096
    tau_note = f"tau_v {_tau_ticks(layer.beta):.4g}->{_tau_ticks(beta_q):.4g} ticks"
    if layer.alpha > 0:
        tau_note += f", tau_u {_tau_ticks(layer.alpha):.4g}->{_tau_ticks(alpha_q):.4g}"
    # First-order rate effect: rate ~ drive * gain / threshold, with the steady-state gain
    # 1 / ((1 - alpha)(1 - beta)) of the two leaky stages (docs/nir.md).
    drive = sum(float(np.sum(np.abs(p.weight))) for p in projs)
    drive_q = sum(float(np.sum(np.abs(q.weight) * (1 << q.exp))) / k for q in qps)
    ratio = drive_q / drive if drive else 1.0
    for keep, keep_q in ((layer.alpha, alpha_q if layer.alpha > 0 else 0.0), (layer.beta, beta_q)):
        if keep < 1 and keep_q < 1:
            ratio *= (1 - keep) / (1 - keep_q)
    theta_q = vth / k
    theta_err = (theta_q - layer.theta) / layer.theta if layer.theta > 0 else 0.0
    if layer.theta > 0 and theta_q > 0:
        ratio *= layer.theta / theta_q
    params = dict(
        du=du,
        dv=dv,
        vth=vth,
        bias_mant=bias_mant,
        bias_exp=bias_exp,
        refractory=layer.refractory,
    )
    return QuantLayer(params, k, qps, theta_err, tau_note, ratio - 1.0)
