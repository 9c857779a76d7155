"""Minimal inputs the fuzzers found, each with the clear error it now gets (docs/testing.md)."""

from __future__ import annotations

import time

import pytest

from spikemesh.errors import NetworkError
from spikemesh.netfile import MAX_ALIAS_EXPANSION, load_network

# --- network YAML (spikemesh/netfile.py) -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]\n",
        "populations: &a [*a]\n",
        "populations:\n - {name: a, size: 3, u0: &x [1, *x]}\n",
    ],
)
def test_netfile_recursive_alias(text):
    # was: RecursionError from the line-number walk
    with pytest.raises(NetworkError, match="an alias refers to a node that contains it"):
        load_network(text)


def test_netfile_alias_bomb():
    # was: 9 levels of 9 aliases walked 9**9 nodes (minutes); now refused at once
    levels = ["&a0 [1, 2]"] + [
        f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)
    ]
    text = "populations:\n  - {name: p, size: 4, u0: [" + ", ".join(levels) + "]}\n"
    t0 = time.perf_counter()
    with pytest.raises(NetworkError, match=f"at most {MAX_ALIAS_EXPANSION:,} more are allowed"):
        load_network(text)
    assert time.perf_counter() - t0 < 2


def test_netfile_shared_alias_still_loads():
    net = load_network("populations:\n  - &p {name: a, size: 3}\n  - {name: b, size: 3}\n")
    assert net.num_neurons == 6


@pytest.mark.parametrize("text", ["x" * 5000, "[" * 5000, "a\x00b.yaml"])
def test_netfile_one_line_text_that_is_no_path(text):
    # was: OSError (file name too long) / ValueError (NUL byte) from Path.is_file
    with pytest.raises(NetworkError):
        load_network(text)


def test_netfile_lone_surrogate():
    # was: UnicodeEncodeError from libyaml
    with pytest.raises(NetworkError, match="not valid YAML text"):
        load_network("name: \udcff\n")
