"""Fuzz targets: system YAML (spikemesh/system.py) and the command line (spikemesh/cli.py).

The CLI runs in-process (``spikemesh.cli.main``) on random option combinations over a
vocabulary of good and bad values and files; it must exit 0, 1 or 2, print an
``error:`` line (or argparse's usage) when it refuses, and never raise. Backends that
build hardware (rtl, board, the FPGA flow, the simulated board) are left out: they take
minutes and their argument checks are shared with the ones fuzzed here.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import tempfile
from pathlib import Path

import yaml
from hypothesis import strategies as st

from spikemesh.errors import SpikemeshError
from spikemesh.system import SystemConfig

from .harness import Target, expect_clean
from .strategies import hostile_values

SYSTEM = {
    "chips_x": 2,
    "chips_y": 1,
    "chip": {"width": 2, "height": 2, "core": {"neurons": 16, "axons": 64, "synapses": 256}},
    "link_latency": 16,
    "link_cycles_per_flit": 4,
}


@st.composite
def system_docs(draw):
    doc = copy.deepcopy(SYSTEM)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "chip", "core", "router", "root"]))
        if where == "root":
            doc = draw(hostile_values())
            break
        target = {"top": doc, "chip": doc.get("chip"), "core": None, "router": None}[where]
        if where in ("core", "router") and isinstance(doc.get("chip"), dict):
            target = doc["chip"].setdefault(where, {})
        if not isinstance(target, dict):
            continue
        keys = [*target, "bogus", "width", "fifo_depth", "acc_bits", "watchdog_cycles"]
        key = draw(st.sampled_from(keys))
        if draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(hostile_values(1))
    return yaml.safe_dump(doc) if draw(st.integers(0, 5)) else draw(st.text(max_size=60))


def check_system(text):
    return expect_clean(SystemConfig.from_yaml, text + "\n")


# --- the command line ---------------------------------------------------------------------


@functools.cache
def files() -> dict:
    """Good and bad input files for the CLI, made once per process."""
    from spikemesh.firmware.compiler import compile_network

    from spikemesh.config import ChipConfig, CoreConfig
    from spikemesh.netfile import load_network

    from .targets_image import NET

    d = Path(tempfile.mkdtemp(prefix="spikemesh-fuzz-cli-"))
    chip = ChipConfig(width=2, height=2, core=CoreConfig(neurons=16, axons=64, synapses=256))
    (d / "net.yaml").write_text(NET)
    (d / "bad.yaml").write_text("populations:\n  - {name: a, size: -3}\n")
    (d / "notyaml.yaml").write_text("[\n")
    (d / "chip.yaml").write_text(chip.to_yaml())
    (d / "badchip.yaml").write_text("width: 300\n")
    (d / "system.yaml").write_text(yaml.safe_dump(SYSTEM))
    (d / "badsystem.yaml").write_text("chips_x: 0\n")
    image, _ = compile_network(load_network(NET), chip)
    image.save(d / "net.img")
    (d / "bad.img").write_bytes(b"SPKMIMG\0garbage")
    (d / "garbage.nir").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    try:
        from spikemesh.nir_io import write_nir

        write_nir(load_network(NET), d / "net.nir")
    except Exception:  # nir missing: the CLI then says so, which is fine to fuzz too
        pass
    (d / "out").mkdir()
    return {"dir": d}


def _path(name):
    return st.sampled_from([name]).map(lambda n: str(files()["dir"] / n))


in_files = st.one_of(
    *(
        _path(n)
        for n in ["net.yaml", "bad.yaml", "notyaml.yaml", "chip.yaml", "net.img", "net.nir",
                  "garbage.nir", "missing.yaml", "out"]
    ),
    st.sampled_from(["", "-", "/dev/null", "x" * 300]),
)  # fmt: skip
chip_files = st.one_of(
    *(_path(n) for n in ["chip.yaml", "badchip.yaml", "net.yaml", "missing.yaml", "out"])
)
out_files = st.one_of(
    *(_path(n) for n in ["out/a.npz", "out/b.img", "out/c.yaml", "out/d.nir", "out", "out/e.v"]),
    st.sampled_from(["/nonexistent/dir/x.npz", ""]),
)
numbers = st.sampled_from(["0", "1", "3", "-1", "x", "1e3", "0.001", "nan", "99999999999999999999"])
small_ticks = st.sampled_from(["0", "1", "5", "-1", "x", "2.5", ""])

OPTIONS = {
    "run": {
        "--ticks": small_ticks,
        "--backend": st.sampled_from(["golden", "tlm", "tlm-timed", "bogus", ""]),
        "--out": out_files,
        "--acc-bits": numbers,
        "--chip": chip_files,
        "--quiet": None,
        "--check": st.sampled_from(["golden", "tlm", "tlm-timed", "bogus"]),
        "--load": st.sampled_from(["direct", "hostlink", "bogus"]),
        "--runner": st.sampled_from(["verilator", "cocotb"]),
        "--simulator": st.sampled_from(["verilator", "icarus"]),
        "--waves": out_files,
        "--waves-ticks": st.sampled_from(["0:1", "1:0", "a:b", "0:99", "-1:2"]),
        "--progress": None,
        "--no-progress": None,
        "--port": st.sampled_from(["/dev/null", "socket://127.0.0.1:1", ""]),
        "--baud": numbers,
        "--board": st.sampled_from(["icebreaker", "bogus"]),
        "--system": st.one_of(_path("system.yaml"), _path("badsystem.yaml"), in_files),
        "--report": out_files,
        "--energy-profile": st.sampled_from(["default", "bogus", "/nonexistent.yaml"]),
    },
    "compile": {
        "--chip": chip_files,
        "--output": out_files,
        "--neurons-per-core": numbers,
        "--host-outputs": st.sampled_from(["all", "recorded", "none", "a,b", "zz", ",", ""]),
        "--acc-bits": numbers,
        "--quiet": None,
    },
    "import": {
        "--output": out_files,
        "--dt": numbers,
        "--flavor": st.sampled_from(["spec", "norse", "snntorch", "bogus"]),
        "--strict": None,
        "--no-strict": None,
        "--lenient": None,
        "--reset": st.sampled_from(["zero", "subtract", "bogus"]),
        "--quiet": None,
    },
    "export": {"--output": out_files, "--dt": numbers, "--quiet": None},
    "check-config": {},
}


@st.composite
def argvs(draw):
    cmd = draw(st.sampled_from([*OPTIONS, "bogus", "--version", "-h"]))
    if cmd not in OPTIONS:
        return [cmd]
    argv = [cmd]
    if draw(st.integers(0, 9)):
        argv.append(draw(chip_files if cmd == "check-config" else in_files))
    for opt in draw(st.lists(st.sampled_from([*OPTIONS[cmd], "--bogus"]), max_size=5)):
        argv.append(opt)
        values = OPTIONS[cmd].get(opt, st.none())
        if values is not None and draw(st.integers(0, 9)):
            value = draw(values)
            if value is not None:
                argv.append(value)
    if cmd in ("compile", "import", "export") and "--output" not in argv and draw(st.booleans()):
        argv += ["--output", draw(out_files)]
    return argv


def run_cli(argv) -> tuple[int, str]:
    from spikemesh.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: usage errors (2), --help / --version (0)
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    return code, err.getvalue()


def check_cli(argv):
    code, err = run_cli(argv)
    assert code in (0, 1, 2), f"exit status {code}"
    if code == 2:
        assert "error" in err, f"exit 2 without a message: {err!r}"
    assert "Traceback" not in err
    return SpikemeshError("refused") if code else None


TARGETS = [
    Target("system-yaml", system_docs(), check_system, ci_examples=150),
    Target("cli", argvs(), check_cli, ci_examples=60, timeout=60),
]
