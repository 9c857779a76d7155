"""Connectivity rules: which (pre, post) pairs a projection's ``connectivity`` makes.

``explicit`` (listed pairs, optionally with a weight each), ``one_to_one``, ``all_to_all``,
and the seeded random kinds ``fixed_fanout`` (``fanout`` distinct targets per presynaptic
element) and ``fixed_probability`` (each pair with probability ``p``); for a population
onto itself, i -> i only with ``allow_self``. Errors are tagged with the parameter they
are about (netcheck.param).
"""

from __future__ import annotations

import numpy as np

from .errors import NetworkError
from .netcheck import check_in, param

CONNECTIVITY = ("explicit", "one_to_one", "all_to_all", "fixed_fanout", "fixed_probability")


def connection_pairs(
    connectivity, n_pre, n_post, where, *, self_proj, allow_self, seed, pairs, fanout, p
):
    """(pre indices, post indices, per-pair weights or None) of one projection."""
    explicit_w = None
    if connectivity == "explicit":
        with param("pairs"):
            pi, po, explicit_w = explicit_pairs(pairs, n_pre, n_post, where)
    elif connectivity == "one_to_one":
        if n_pre != n_post:
            raise NetworkError(f"{where}: one_to_one needs equal sizes, not {n_pre} and {n_post}")
        pi = np.arange(n_pre, dtype=np.int64)
        po = pi.copy()
    elif connectivity == "all_to_all":
        pi = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        po = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        if self_proj and not allow_self:
            keep = pi != po
            pi, po = pi[keep], po[keep]
    elif connectivity in ("fixed_fanout", "fixed_probability"):
        if seed is None:
            with param("seed"):
                raise NetworkError(f"{where}: {connectivity} needs a seed")
        rng = np.random.default_rng(int(seed))
        excl = np.arange(n_pre, dtype=np.int64) if (self_proj and not allow_self) else None
        avail = n_post - (1 if excl is not None else 0)
        if connectivity == "fixed_fanout":
            with param("fanout"):
                k = check_in(fanout, 0, avail, f"{where} fanout")
            counts = np.full(n_pre, k, dtype=np.int64)
        else:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
                with param("p"):
                    raise NetworkError(f"{where}: fixed_probability needs p within 0..1, not {p!r}")
            counts = rng.binomial(avail, float(p), size=n_pre).astype(np.int64)
        pi, po = distinct_targets(rng, counts, n_post, excl)
    else:
        with param("connectivity"):
            raise NetworkError(
                f"{where}: unknown connectivity {connectivity!r}; known: {', '.join(CONNECTIVITY)}"
            )
    return pi, po, explicit_w


def explicit_pairs(pairs, n_pre, n_post, where):
    """(pre, post) index arrays and the per-pair weights (or None) of explicit connectivity."""
    if pairs is None:
        raise NetworkError(f"{where}: explicit connectivity needs pairs")
    if isinstance(pairs, np.ndarray):
        pairs = pairs.tolist()
    if not isinstance(pairs, (list, tuple)):
        raise NetworkError(f"{where}: pairs must be a list of (pre, post) or (pre, post, weight)")
    pi = np.zeros(len(pairs), dtype=np.int64)
    po = np.zeros(len(pairs), dtype=np.int64)
    ws = []
    for k, row in enumerate(pairs):
        if not isinstance(row, (list, tuple)) or len(row) not in (2, 3):
            raise NetworkError(
                f"{where}: pairs[{k}] must be (pre, post) or (pre, post, weight), not {row!r}"
            )
        pi[k] = check_in(row[0], 0, n_pre - 1, f"{where} pairs[{k}] pre index")
        po[k] = check_in(row[1], 0, n_post - 1, f"{where} pairs[{k}] post index")
        if len(row) == 3:
            ws.append(row[2])
    if ws and len(ws) != len(pairs):
        raise NetworkError(f"{where}: either every pair carries a weight or none does")
    return pi, po, (ws or None)


def distinct_targets(rng, counts, n_post, exclude=None):
    """For row r draw counts[r] distinct targets in 0..n_post-1 (never exclude[r]).

    Rows that want at most half of the available targets use vectorised
    rejection (draw all, redraw duplicates until none remain); it converges in
    a few rounds there, but would need ~pool rounds for a nearly full row, so
    denser rows take the smallest ``count`` of ``pool`` random keys instead.
    Deterministic for a given generator state; rows come out in order.
    """
    counts = np.asarray(counts, dtype=np.int64)
    pool = n_post - (0 if exclude is None else 1)
    dense = 2 * counts > pool
    if dense.any():
        sparse_rows, sparse_tgt = distinct_targets(rng, np.where(dense, 0, counts), n_post, exclude)
        d_rows = np.flatnonzero(dense)
        order = np.argsort(rng.random((d_rows.size, pool)), axis=1, kind="stable")
        take = np.arange(pool)[None, :] < counts[d_rows][:, None]
        dense_rows = np.broadcast_to(d_rows[:, None], order.shape)[take]
        dense_tgt = order[take].astype(np.int64)
        if exclude is not None:
            dense_tgt += dense_tgt >= exclude[dense_rows]
        rows = np.concatenate([sparse_rows, dense_rows])
        tgt = np.concatenate([sparse_tgt, dense_tgt])
        by_row = np.argsort(rows, kind="stable")
        return rows[by_row], tgt[by_row]
    rows = np.repeat(np.arange(counts.size, dtype=np.int64), counts)

    def draw(k, r):
        t = rng.integers(0, pool, size=k, dtype=np.int64)
        if exclude is not None:
            t += t >= exclude[r]  # skip the excluded index: uniform over the others
        return t

    tgt = draw(rows.size, rows)
    while True:
        # One int64 sort key (row, target) is much faster than a lexsort.
        key = rows * n_post + tgt
        order = np.argsort(key, kind="stable")
        ks = key[order]
        dup = np.zeros(rows.size, dtype=bool)
        dup[1:] = ks[1:] == ks[:-1]
        if not dup.any():
            return rows, tgt
        idx = np.sort(order[dup])
        tgt[idx] = draw(idx.size, rows[idx])
