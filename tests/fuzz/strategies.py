"""Structure-aware hypothesis strategies for the fuzz targets (tests/fuzz/harness.py)."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]

# --- hostile scalars and values -------------------------------------------------------------

# Edges of every range the formats use (24-bit sizes, 8-bit weights, 32/64-bit overflow).
EDGE_INTS = [
    0, 1, -1, 2, 7, 8, 15, 16, 127, 128, -128, -129, 255, 256, 4095, 4096, -4096, -4097,
    (1 << 17) - 1, 1 << 17, (1 << 23) - 1, -(1 << 23), 1 << 23, 1 << 24, (1 << 24) + 1,
    (1 << 31) - 1, 1 << 31, 1 << 32, (1 << 63) - 1, 1 << 63, -(1 << 63), 1 << 64, 10**30,
]  # fmt: skip
EDGE_FLOATS = [0.0, -0.0, 0.5, 1.0, 1.5, -1.0, 1e-300, 1e300, math.inf, -math.inf, math.nan]

small_ints = st.integers(-300, 300)
ints = st.one_of(small_ints, st.sampled_from(EDGE_INTS), st.integers())
floats = st.one_of(st.sampled_from(EDGE_FLOATS), st.floats())
names = st.one_of(
    st.sampled_from(["a", "b", "exc", "inh", "g0", "kick", "drive", "bias", "", "a b", "é"]),
    st.text(max_size=6),
)
scalars = st.one_of(ints, floats, names, st.booleans(), st.none())


def hostile_values(depth=2):
    """Any value YAML can hold, biased to the edges; nested ``depth`` deep."""
    if depth == 0:
        return scalars
    inner = hostile_values(depth - 1)
    return st.one_of(
        scalars,
        scalars,
        st.lists(inner, max_size=5),
        st.lists(st.lists(small_ints, min_size=0, max_size=4), max_size=5),  # pair-like rows
        st.dictionaries(st.one_of(names, small_ints), inner, max_size=3),
        st.fixed_dictionaries(
            {"uniform": st.lists(ints, min_size=0, max_size=3)},
            optional={"seed": ints},
        ),
    )


# --- network documents ------------------------------------------------------------------------


def _doc_example():
    text = (ROOT / "docs" / "network-format.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    return yaml.safe_load(block)


def base_networks() -> list[dict]:
    """The examples/ networks and the complete example of docs/network-format.md."""
    docs = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))]
    return [*docs, _doc_example()]


def _scaled(doc, n=5):
    """The same document with every population and source of ``n`` elements (fast to load)."""
    doc = copy.deepcopy(doc)
    for section in ("populations", "sources"):
        for entry in doc.get(section) or []:
            entry["size"] = n
            for key in ("u0", "v0"):
                if isinstance(entry.get(key), list):
                    entry[key] = entry[key][:n]
            if isinstance(entry.get("spikes"), dict):
                entry["spikes"] = {t: [i % n for i in ([ix] if isinstance(ix, int) else ix)]
                                   for t, ix in entry["spikes"].items()}  # fmt: skip
            elif isinstance(entry.get("spikes"), list):
                entry["spikes"] = [[t, i % n] for t, i in entry["spikes"]]
    for proj in doc.get("projections") or []:
        if "pairs" in proj:
            proj["pairs"] = [[r[0] % n, r[1] % n, *r[2:]] for r in proj["pairs"]]
            if isinstance(proj.get("weight"), list):
                proj["weight"] = proj["weight"][: len(proj["pairs"])]
        if "fanout" in proj:
            proj["fanout"] = min(proj["fanout"], n - 1)
    return doc


FULL_BASES = base_networks()
# The full examples load in ~50 ms; scaled copies (same structure) in ~2 ms, so most inputs
# start from those and the long run reaches its count.
BASES = FULL_BASES + [_scaled(d) for d in FULL_BASES] * 6
NETWORK_KEYS = {
    "top": ["name", "populations", "sources", "projections"],
    "populations": ["name", "size", "du", "dv", "vth", "bias_mant", "bias_exp", "refractory",
                    "u0", "v0", "record"],
    "sources": ["name", "size", "spikes", "bernoulli", "poisson", "seed"],
    "projections": ["pre", "post", "connectivity", "pairs", "fanout", "p", "seed", "weight",
                    "weight_exp", "allow_self"],
}  # fmt: skip
CONNECTIVITY = ["explicit", "one_to_one", "all_to_all", "fixed_fanout", "fixed_probability"]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for k, v in enumerate(node):
            yield from _paths(v, (*path, k))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def mutated_network(draw, bases=None):
    """A network document: an example with 1-4 structure-aware mutations."""
    doc = copy.deepcopy(draw(st.sampled_from(bases or BASES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        op = draw(
            st.sampled_from(
                ["replace", "replace", "replace", "delete", "add_key", "duplicate",
                 "swap", "connectivity", "empty"]
            )
        )  # fmt: skip
        if not path:
            if op == "replace":
                doc = draw(hostile_values())
                if not isinstance(doc, dict):
                    return doc
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = draw(hostile_values())
        elif op == "delete":
            del parent[key]
        elif op == "add_key" and isinstance(parent, dict):
            section = path[0] if path[0] in NETWORK_KEYS else "top"
            parent[draw(st.one_of(st.sampled_from(NETWORK_KEYS[section]), names))] = draw(
                hostile_values()
            )
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(draw(st.integers(0, len(parent))), copy.deepcopy(parent[key]))
        elif op == "swap":
            other = draw(st.sampled_from(paths))
            if other and other[: len(path)] != path and path[: len(other)] != other:
                parent[key] = copy.deepcopy(_get(doc, other))
        elif op == "connectivity" and isinstance(parent, dict) and "pre" in parent:
            parent["connectivity"] = draw(st.sampled_from(CONNECTIVITY))
        elif op == "empty":
            parent[key] = draw(st.sampled_from([[], {}, None, ""]))
    return doc


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(doc) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


# Snippets that stress the YAML layer itself: tags, anchors and aliases, merges, odd scalars.
YAML_SNIPPETS = [
    "&a ", "*a", "<<: *a\n", "!!python/object:os.system ", "!!binary ", "!!set ", "? ", "{", "}",
    "[", "]", "- ", ": ", "\t", "\n", "---\n", "...\n", "%YAML 1.1\n", "'", '"', "#", "|\n",
    ">\n", "~", ".nan", "-.inf", "0x1F", "0o17", "1_000", "1e400", "2001-12-14", "yes", "\x00",
    "\ufeff", "\u2028", "\udcff",
]  # fmt: skip


@st.composite
def network_text(draw):
    """YAML text: a dumped (mutated) network with byte-level damage or YAML-level snippets."""
    text = dump(draw(st.one_of(st.sampled_from(BASES), mutated_network())))
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["truncate", "insert", "delete", "flip"]))
        if op == "truncate":
            text = text[:pos]
        elif op == "insert":
            text = (
                text[:pos]
                + draw(st.one_of(st.sampled_from(YAML_SNIPPETS), st.text()))
                + (text[pos:])
            )
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
        elif op == "flip" and text:
            p = min(pos, len(text) - 1)
            text = (
                text[:p]
                + chr((ord(text[p]) ^ (1 << draw(st.integers(0, 6)))) or 1)
                + (text[p + 1 :])
            )
    return text


def _bomb(levels, width):
    # [&a0 [1, 2], &a1 [*a0, *a0, ...], &a2 [*a1, ...], ...]: level k expands to width**k lists
    rows = ["&a0 [1, 2]"]
    rows += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "[" + ", ".join(rows) + "]"


alias_documents = st.builds(
    lambda levels, width, where: where.replace("BOMB", _bomb(levels, width)),
    st.integers(1, 12),
    st.integers(1, 12),
    st.sampled_from(
        [
            "populations:\n  - {name: p, size: 4, u0: BOMB}\n",
            "sources:\n  - {name: s, size: 4, spikes: BOMB}\n",
            "populations: [{name: p, size: 4}]\nprojections:\n  - {pre: p, post: p, "
            "connectivity: explicit, pairs: BOMB}\n",
            "x: BOMB\n",
            "name: BOMB\n",
        ]
    ),
)
