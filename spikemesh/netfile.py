"""The YAML form of a network (docs/network-format.md).

:func:`load_network` reads a file (or YAML text) into a :class:`~spikemesh.network.Network`
through the same Python API a user would call, so a file is checked by exactly
the same rules. Every error is a :class:`~spikemesh.errors.NetworkError` whose
message names the file, the key path and the line, e.g.::

    net.yaml: projections[2].weight (line 31): weight[5] = 300 is outside -128..127

:func:`dump_network` writes any :class:`Network` back out. A network only keeps
what it built (its synapse lists, not the rule that drew them), so the dump is
explicit: projections become ``explicit`` pairs and spike sources keep their
kind and seed. Loading a dump gives a network with identical arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from .connectivity import CONNECTIVITY
from .errors import NetworkError
from .network import Network, Population

TOP_KEYS = ("name", "populations", "sources", "projections")
POPULATION_KEYS = (
    "name",
    "size",
    "du",
    "dv",
    "vth",
    "bias_mant",
    "bias_exp",
    "refractory",
    "reset",
    "u0",
    "v0",
    "record",
)
SOURCE_KEYS = ("name", "size", "spikes", "bernoulli", "poisson", "seed")
PROJECTION_KEYS = (
    "pre",
    "post",
    "connectivity",
    "pairs",
    "fanout",
    "p",
    "seed",
    "weight",
    "weight_exp",
    "delay",
    "allow_self",
    "plasticity",
)
# Keys that only mean something for one connectivity; anywhere else they are errors,
# so that a typo'd connectivity cannot silently ignore the user's fanout or p.
# libyaml's loader and dumper when PyYAML was built with it: ~10x faster on big pair lists,
# and they keep node marks (line numbers) just like the pure-Python ones.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Nodes that aliases may add to a document when expanded: a file that shares one list a few
# times is fine, one whose expansion runs to billions of nodes (nested aliases) is refused.
MAX_ALIAS_EXPANSION = 1_000_000

_ONLY_FOR = {
    "pairs": ("explicit",),
    "fanout": ("fixed_fanout",),
    "p": ("fixed_probability",),
    "allow_self": ("all_to_all", "fixed_fanout", "fixed_probability"),
}


class _Marks:
    """Line numbers of every key path of a YAML document, from its composed node tree.

    The walk also refuses what YAML allows but a network file has no use for: an alias
    inside the node it names (a recursive document) and aliases that expand the document
    by more than :data:`MAX_ALIAS_EXPANSION` nodes (an "alias bomb", which every later
    step would walk in full).
    """

    def __init__(self, where: str, node):
        self.where = where
        self.lines: dict[tuple, int] = {}
        if node is not None:
            self._check_aliases(node)
            self._walk(node)

    def _check_aliases(self, root):
        # Expanded size of every node, memoised by identity, so that a shared (aliased)
        # node costs one visit: linear in the composed document, whatever it expands to.
        size: dict[int, int] = {}
        on_path: set[int] = set()
        stack = [(root, False)]
        while stack:
            node, leaving = stack.pop()
            key = id(node)
            children = _children(node)
            if leaving:
                on_path.discard(key)
                size[key] = 1 + sum(size[id(c)] for c in children)
                continue
            if key in size:
                continue
            if key in on_path:
                raise NetworkError(
                    f"{self.where} (line {node.start_mark.line + 1}): an alias refers to a "
                    "node that contains it; a network file cannot be recursive"
                )
            on_path.add(key)
            stack.append((node, True))
            for c in children:
                if id(c) in on_path:
                    raise NetworkError(
                        f"{self.where} (line {c.start_mark.line + 1}): an alias refers to a "
                        "node that contains it; a network file cannot be recursive"
                    )
                if id(c) not in size:
                    stack.append((c, False))
        unique = len(size)
        if size[id(root)] - unique > MAX_ALIAS_EXPANSION:
            raise NetworkError(
                f"{self.where}: aliases expand the document from {unique:,} to "
                f"{size[id(root)]:,} nodes; at most {MAX_ALIAS_EXPANSION:,} more are allowed"
            )

    def _walk(self, root):
        # Iterative (a document nested ~1,000 deep, libyaml's limit, would exhaust Python's
        # recursion); an aliased node is walked once, at its first path (its line is the same).
        seen: set[int] = set()
        stack = [(root, ())]
        while stack:
            node, path = stack.pop()
            self.lines.setdefault(path, node.start_mark.line + 1)
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                keys = set()
                for key_node, value_node in node.value:
                    key = _scalar_key(key_node)
                    if key in keys:
                        raise self.error(
                            path, f"duplicate key {key!r}", line=key_node.start_mark.line + 1
                        )
                    keys.add(key)
                    stack.append((value_node, (*path, key)))
            elif isinstance(node, yaml.SequenceNode):
                stack.extend((item, (*path, k)) for k, item in enumerate(node.value))

    def line(self, path):
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, path, message, *, line=None) -> NetworkError:
        text = _path_text(path)
        line = line if line is not None else self.line(_key_path(path))
        at = f" (line {line})" if line is not None else ""
        if text:
            return NetworkError(f"{self.where}: {text}{at}: {message}")
        return NetworkError(f"{self.where}{at}: {message}")


def _children(node):
    if isinstance(node, yaml.MappingNode):
        return [c for pair in node.value for c in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _scalar_key(node):
    # Mapping keys are compared as their text, the way a reader sees them ("3" and 3 clash).
    return node.value if isinstance(node, yaml.ScalarNode) else repr(node.value)


def _key_path(path):
    return tuple(p if isinstance(p, int) else str(p) for p in path)


def _path_text(path):
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _is_file(text: str) -> bool:
    # One-line YAML text may be no valid path at all (too long, a NUL byte): then it is text.
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _read(source) -> tuple[str, str]:
    """(text, where) from a path or YAML text; ``where`` is used in messages."""
    if isinstance(source, Path):
        path = source
    elif (
        isinstance(source, str)
        and "\n" not in source
        and (source.endswith((".yaml", ".yml")) or _is_file(source))
    ):
        path = Path(source)
    elif isinstance(source, str):
        return source, "<network>"
    else:
        raise NetworkError(f"load_network needs a path or YAML text, not {type(source).__name__}")
    if not _is_file(str(path)):
        raise NetworkError(f"network file {path} does not exist")
    try:
        return path.read_text(), str(path)
    except (OSError, UnicodeDecodeError) as e:
        raise NetworkError(f"network file {path} cannot be read: {e}") from None


def _parse(text, where):
    """(data, marks): the plain Python value of the document and its line numbers."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f" (line {mark.line + 1})" if mark is not None else ""
        problem = " ".join(str(x) for x in (e.context, e.problem) if x)
        raise NetworkError(f"{where}{at}: not valid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise NetworkError(f"{where}: not valid YAML: {e}") from None
    except UnicodeError as e:  # text from Python with a lone surrogate, which libyaml cannot encode
        raise NetworkError(f"{where}: not valid YAML text: {e}") from None
    # Walk the node after construction: merge keys ("<<") are resolved in place by then.
    return data, _Marks(where, node)


def _check_keys(marks, path, entry, known, what):
    if not isinstance(entry, dict):
        raise marks.error(path, f"{what} must be a mapping, not {type(entry).__name__}")
    unknown = [k for k in entry if k not in known]
    if unknown:
        names = ", ".join(str(k) for k in unknown)
        raise marks.error(
            (*path, unknown[0]),
            f"unknown key(s) {names} in {what}; known keys are {', '.join(known)}",
        )


def _require(marks, path, entry, keys, what):
    for key in keys:
        if key not in entry:
            raise marks.error(path, f"{what} needs a {key!r} key")


def _list(marks, data, key):
    value = data.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise marks.error((key,), f"must be a list, not {type(value).__name__}")
    return value


def _api_error(marks, path, e: NetworkError, prefix: str):
    """Re-raise an API error at the key path it is about, without the API's own prefix."""
    key = getattr(e, "key", None)
    msg = str(e)
    if msg.startswith(prefix):
        msg = msg[len(prefix) :].lstrip(": ") or msg
    keys = key if isinstance(key, tuple) else ((key,) if key else ())
    return marks.error((*path, *keys), msg)


def load_network(source) -> Network:
    """Build a :class:`Network` from a YAML file or YAML text.

    Parameters
    ----------
    source : str or pathlib.Path
        A path (a ``Path``, or a one-line string naming an existing file or
        ending in ``.yaml``/``.yml``) or the YAML text itself.

    Raises
    ------
    NetworkError
        The file is missing, not YAML, or describes an invalid network; the
        message names the key path and line.
    """
    text, where = _read(source)
    data, marks = _parse(text, where)
    if data is None:
        raise marks.error((), "the file is empty; a network needs at least 'populations'")
    _check_keys(marks, (), data, TOP_KEYS, "the network")
    name = data.get("name", Path(where).stem if where != "<network>" else "network")
    try:
        net = Network(name)
    except NetworkError as e:
        raise marks.error(("name",), str(e)) from None

    for k, entry in enumerate(_list(marks, data, "populations")):
        path = ("populations", k)
        _check_keys(marks, path, entry, POPULATION_KEYS, "a population")
        _require(marks, path, entry, ("name", "size"), "a population")
        kwargs = {key: entry[key] for key in POPULATION_KEYS[2:] if key in entry}
        try:
            net.population(entry["name"], entry["size"], **kwargs)
        except NetworkError as e:
            raise _api_error(marks, path, e, f"population {entry['name']!r}") from None

    for k, entry in enumerate(_list(marks, data, "sources")):
        path = ("sources", k)
        _check_keys(marks, path, entry, SOURCE_KEYS, "a source")
        _require(marks, path, entry, ("name", "size"), "a source")
        kwargs = {key: entry[key] for key in SOURCE_KEYS[2:] if key in entry}
        try:
            net.source(entry["name"], entry["size"], **kwargs)
        except NetworkError as e:
            raise _api_error(marks, path, e, f"source {entry['name']!r}") from None

    for k, entry in enumerate(_list(marks, data, "projections")):
        path = ("projections", k)
        _check_keys(marks, path, entry, PROJECTION_KEYS, "a projection")
        _require(marks, path, entry, ("pre", "post"), "a projection")
        conn = entry.get("connectivity", "all_to_all")
        if conn not in CONNECTIVITY:
            raise marks.error(
                (*path, "connectivity"),
                f"unknown connectivity {conn!r}; known: {', '.join(CONNECTIVITY)}",
            )
        for key, kinds in _ONLY_FOR.items():
            if key in entry and conn not in kinds:
                raise marks.error(
                    (*path, key),
                    f"{key!r} is not used by {conn} connectivity (only by {', '.join(kinds)})",
                )
        kwargs = {key: entry[key] for key in PROJECTION_KEYS[2:] if key in entry}
        if "connectivity" not in kwargs:
            kwargs["connectivity"] = conn
        try:
            net.connect(entry["pre"], entry["post"], **kwargs)
        except NetworkError as e:
            prefix = f"projection {entry['pre']!r} -> {entry['post']!r}"
            raise _api_error(marks, path, e, prefix) from None
    return net


# --- dumping ------------------------------------------------------------------


class _Dumper(_BaseDumper):
    """Block style for structure, flow style for lists of numbers (one pair per line)."""


def _represent_list(dumper, data):
    flow = all(isinstance(x, (int, float, str, bool)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _compact(arr):
    """A scalar when every element is equal, else a plain list."""
    arr = np.asarray(arr)
    if arr.size and (arr == arr.flat[0]).all():
        return int(arr.flat[0])
    return arr.tolist()


def _dump_population(p: Population) -> dict:
    out = {"name": p.name, "size": p.size}
    out.update(
        zip(
            ("du", "dv", "vth", "bias_mant", "bias_exp", "refractory"),
            p.params.as_tuple(),
            strict=True,
        )
    )
    if p.params.reset != "zero":  # files of zero-reset networks stay as they were
        out["reset"] = p.params.reset
    out["u0"] = _compact(p.u0)
    out["v0"] = _compact(p.v0)
    out["record"] = p.record
    return out


def dump_network(net: Network) -> str:
    """The YAML text of ``net``; ``load_network`` of it rebuilds identical arrays."""
    data = {"name": net.name, "populations": [_dump_population(p) for p in net.populations]}
    sources = []
    for s in net.sources:
        entry = {"name": s.name, "size": s.size}
        if s.kind == "spikes":
            entry["spikes"] = s.events.tolist()
        else:
            entry[s.kind] = s.rate
            entry["seed"] = s.seed
        sources.append(entry)
    if sources:
        data["sources"] = sources
    projections = []
    for pr in net.projections:
        entry = {"pre": pr.pre, "post": pr.post, "connectivity": "explicit"}
        w = _compact(pr.weight)
        if isinstance(w, int):
            entry["pairs"] = np.stack([pr.pre_idx, pr.post_idx], axis=1).tolist()
            entry["weight"] = w
        else:
            entry["pairs"] = np.stack([pr.pre_idx, pr.post_idx, pr.weight], axis=1).tolist()
        entry["weight_exp"] = pr.weight_exp
        if pr.delay != 1:  # files of networks without delays stay as they were
            entry["delay"] = pr.delay
        if pr.plasticity is not None:
            entry["plasticity"] = pr.plasticity.to_dict()
        projections.append(entry)
    if projections:
        data["projections"] = projections
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100)
