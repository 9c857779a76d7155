"""Host side of the UART host link (docs/boards.md).

:class:`HostLinkUART` speaks the framed protocol of
:class:`spikemesh.rtl.hostbridge.HostBridge` over any byte transport with
``write(bytes)`` and ``read(n) -> bytes`` (a ``serial.Serial``, the cocotb
transport of tb/board/, or :class:`BridgeModel`). Command words are built by
:class:`spikemesh.hostlink.HostCommands` and responses decoded by
:func:`spikemesh.hostlink.decode_response`, the same functions every other
loader uses.

Reliability
-----------
* Host -> chip: stop-and-wait. Each CMD frame has a sequence number and is
  retransmitted on NAK or on timeout, up to ``retries`` attempts; after that
  :class:`HostLinkTimeout` says how each attempt failed. The bridge applies a
  frame only when its CRC is good and never applies the same sequence number
  twice in a row, so a retransmission after a lost ACK is harmless.
* Chip -> host: RSP frames carry a CRC and a frame counter ``rseq``. A bad
  CRC or a gap in ``rseq`` means response words were lost; they are not
  resent. The loader counts them in ``stats["rsp_frames_lost"]`` and, in
  strict mode (the default), raises :class:`ResponseLost` from the next call
  that returns responses, so a lost spike can never go unnoticed.
"""

from __future__ import annotations

import collections
import random
import time

from spikemesh.errors import SpikemeshError
from spikemesh.hostlink import (
    FRAME_VERSION,
    INFO_FIELDS,
    Frame,
    HostCommands,
    Nak,
    Rsp,
    SlipDecoder,
    StatusReg,
    build_frame,
    crc16_ccitt,
    decode_response,
    response_layout,
    word_bytes,
    word_from_bytes,
    word_to_bytes,
)

# The bridge's Python twin and the test transports live in bridge_twin.py; they are
# importable from here too, where the tests and tb/board have always found them.
from .bridge_twin import BridgeModel, FaultyLink, loopback_chip


class HostLinkError(SpikemeshError):
    """The UART host link failed (no answer, incompatible bridge, lost responses)."""


class HostLinkTimeout(HostLinkError):
    """A frame was not acknowledged after every retry."""


class ResponseLost(HostLinkError):
    """Response frames from the chip were corrupted or lost on the way."""


class HostLinkUART:
    """Reliable command/response link to a board through its HostBridge.

    Parameters
    ----------
    transport : object with ``write(bytes)`` and ``read(n) -> bytes``
        ``read`` returns what has arrived (possibly fewer than ``n`` bytes,
        ``b""`` when nothing came within the transport's own timeout). A
        transport whose ``empty_read_is_timeout`` attribute is true (a
        simulation, a model) declares that an empty read means nothing more
        will come: the loader then retries at once instead of waiting
        ``timeout`` seconds.
    commands : HostCommands
        Encoder for the chip's command words (fixes the command width).
    retries : int
        Attempts per frame before :class:`HostLinkTimeout`.
    timeout : float
        Seconds to wait for the answer to one attempt.
    strict : bool
        Raise :class:`ResponseLost` when response frames were lost.
    sync : bool
        Start with SYNC and PING: reset the bridge's duplicate filter and
        check that its word sizes match ``commands`` (raises HostLinkError).
    """

    def __init__(
        self,
        transport,
        commands: HostCommands,
        *,
        retries: int = 8,
        timeout: float = 0.5,
        strict: bool = True,
        sync: bool = True,
    ):
        if not isinstance(commands, HostCommands):
            raise TypeError(f"commands must be a HostCommands, not {commands!r}")
        if retries < 1:
            raise ValueError(f"retries must be at least 1, not {retries}")
        self.transport = transport
        self.commands = commands
        self.retries = retries
        self.timeout = timeout
        self.strict = strict
        self.cmd_layout = commands.layout
        self.rsp_layout = response_layout()
        self.max_words = 16
        self.info: dict | None = None
        self.stats = collections.Counter()
        self._seq = random.Random().randrange(256)
        self._decoder = SlipDecoder()
        self._frames = collections.deque()
        self._responses = collections.deque()
        self._rseq = None
        self._lost_unreported = 0
        if sync:
            self.sync()

    @classmethod
    def open_serial(cls, port: str, commands: HostCommands, *, baud: int = 115200, **kwargs):
        """Open a serial port (pyserial) and connect."""
        import serial

        return cls(serial.Serial(port, baud, timeout=0.02), commands, **kwargs)

    # --- frames -------------------------------------------------------------

    def _pump(self, deadline) -> bool:
        """Read what the transport has; False when the attempt timed out."""
        data = self.transport.read(64)
        if data:
            self.stats["bytes_in"] += len(data)
            self._frames.extend(self._decoder.feed(data))
            return True
        if getattr(self.transport, "empty_read_is_timeout", False):
            return False
        return time.monotonic() < deadline

    def _take_rsp_frame(self, body):
        rsp_bytes = word_bytes(self.rsp_layout)
        payload = body[2:-2]
        rseq = body[1]
        if self._rseq is not None and rseq != (self._rseq + 1) & 0xFF:
            self._lose((rseq - self._rseq - 1) & 0xFF)
        self._rseq = rseq
        if not payload or len(payload) % rsp_bytes:
            self._lose(1)
            return
        try:
            words = [
                word_from_bytes(self.rsp_layout, payload[i : i + rsp_bytes])
                for i in range(0, len(payload), rsp_bytes)
            ]
        except ValueError:
            # Bits set above the response word: the CRC passed, but this is no frame the
            # bridge sends. Its words cannot be trusted; it counts as lost, like a bad CRC.
            self._lose(1)
            return
        self._responses.extend(decode_response(w) for w in words)
        self.stats["responses"] += len(words)

    def _lose(self, frames):
        self.stats["rsp_frames_lost"] += frames
        self._lost_unreported += frames

    def _next_control(self, deadline, *, until_response=False):
        """The next good ACK/NAK/INFO body, filing RSP frames on the way; None on timeout.

        With ``until_response``, return ``b""`` as soon as an RSP frame was filed.
        """
        while True:
            while self._frames:
                body = self._frames.popleft()
                if body is None or len(body) < 4 or crc16_ccitt(body) != 0:
                    # A damaged answer shows up as a timeout; a damaged RSP
                    # frame as a gap in rseq when the next one arrives.
                    self.stats["bad_frames_in"] += 1
                    continue
                if body[0] == Frame.RSP:
                    self._take_rsp_frame(body)
                    if until_response:
                        return b""
                    continue
                return body
            if not self._pump(deadline):
                return None

    def _transact(self, ftype: Frame, payload: bytes = b"", *, answer: Frame = Frame.ACK) -> bytes:
        seq = self._seq
        frame = build_frame(ftype, seq, payload)
        failures = []
        for attempt in range(self.retries):
            if attempt:
                self.stats["retransmits"] += 1
            self.transport.write(frame)
            self.stats["frames_out"] += 1
            deadline = time.monotonic() + self.timeout
            while True:
                body = self._next_control(deadline)
                if body is None:
                    failures.append("timeout")
                    self.stats["timeouts"] += 1
                    break
                if body[0] == Frame.NAK:
                    reason = body[2] if len(body) >= 5 else 0
                    if reason == Nak.WIDTH and len(body) >= 5:
                        self.stats["naks"] += 1
                        raise HostLinkError(self._width_refused(ftype, seq))
                    try:
                        failures.append(f"NAK {Nak(reason).name}")
                    except ValueError:
                        failures.append(f"NAK {reason}")
                    self.stats["naks"] += 1
                    break
                if body[0] == answer and body[1] == seq:
                    self._seq = (seq + 1) & 0xFF
                    return body[2:-2]
                self.stats["stale_answers"] += 1  # an answer to an earlier attempt
        raise HostLinkTimeout(
            f"{ftype.name} frame seq {seq} was not acknowledged after {self.retries} attempts "
            f"({', '.join(failures)}); is the board programmed, the port and baud rate right?"
        )

    def _width_refused(self, ftype, seq) -> str:
        # This host never sets a padding bit (word_to_bytes refuses), so the board's
        # command words are narrower than ours in the same number of bytes: another chip.
        return (
            f"{ftype.name} frame seq {seq} was refused with NAK WIDTH: the board's host "
            f"bridge found a command word bit above its command width, which this host's "
            f"{self.cmd_layout.width}-bit words use; the board was built for another chip "
            f"config (same {word_bytes(self.cmd_layout)}-byte words, narrower layout). "
            f"Rebuild the bitstream for this chip. Nothing of the frame was applied."
        )

    # --- session ------------------------------------------------------------

    def sync(self) -> dict:
        """Reset the bridge's duplicate filter and read its INFO; check the word sizes."""
        self._transact(Frame.SYNC)
        info = self.ping()
        want = {
            "version": FRAME_VERSION,
            "cmd_bytes": word_bytes(self.cmd_layout),
            "rsp_bytes": word_bytes(self.rsp_layout),
        }
        bad = {k: (info[k], v) for k, v in want.items() if info[k] != v}
        if bad:
            detail = ", ".join(
                f"{k} is {got} on the board but {v} here" for k, (got, v) in bad.items()
            )
            raise HostLinkError(f"The board's host bridge does not match this chip: {detail}")
        if info["max_words"] < 1:
            raise HostLinkError(
                "The board's host bridge takes max_words = 0 command words per frame; "
                "a bridge takes 1..255"
            )
        self.max_words = info["max_words"]
        return info

    def ping(self) -> dict:
        """The bridge's INFO: version, word sizes and its error counters."""
        body = self._transact(Frame.PING, answer=Frame.INFO)
        if len(body) != len(INFO_FIELDS):
            raise HostLinkError(f"INFO frame has {len(body)} bytes, expected {len(INFO_FIELDS)}")
        self.info = dict(zip(INFO_FIELDS, body, strict=False))
        return self.info

    # --- commands -----------------------------------------------------------

    def send_words(self, words) -> None:
        """Send command words, ``max_words`` per frame, each frame acknowledged."""
        words = list(words)
        for i in range(0, len(words), self.max_words):
            chunk = words[i : i + self.max_words]
            self._transact(Frame.CMD, b"".join(word_to_bytes(self.cmd_layout, w) for w in chunk))
            self.stats["words_out"] += len(chunk)

    def write_config(self, writes) -> None:
        """``writes``: iterable of ``(tile, addr, data)``."""
        c = self.commands
        self.send_words(c.config_write(t, a, d) for t, a, d in writes)

    def send_inputs(self, events) -> None:
        """``events``: iterable of ``(tile, axon)`` for the current tick."""
        self.send_words(self.commands.input(t, a) for t, a in events)

    def end_tick(self) -> None:
        self.send_words([self.commands.end_tick()])

    def run(self, ticks: int) -> None:
        self.send_words([self.commands.run(ticks)])

    def reset(self) -> None:
        self.send_words([self.commands.reset()])

    # --- responses ----------------------------------------------------------

    def _check_lost(self):
        if self._lost_unreported and self.strict:
            n, self._lost_unreported = self._lost_unreported, 0
            raise ResponseLost(
                f"{n} response frame(s) from the board were corrupted or lost; re-read the "
                f"state you need (READ_STATUS / READ_STATE) or pass strict=False to go on"
            )

    def poll(self, timeout: float = 0.0) -> list:
        """Responses received so far, reading the transport for up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            body = self._next_control(deadline)
            if body is None:
                break
            self.stats["stray_answers"] += 1  # an answer to a frame we no longer wait for
        self._check_lost()
        out = list(self._responses)
        self._responses.clear()
        return out

    def wait_for(self, op: Rsp, *, where=None, timeout: float | None = None) -> tuple[dict, list]:
        """Wait for the first response of type ``op`` (matching ``where``).

        Returns it and the responses received before it (spikes of a tick, ...);
        raises :class:`HostLinkError` when it does not come within ``timeout``.
        """
        timeout = self.timeout * self.retries if timeout is None else timeout
        deadline = time.monotonic() + timeout
        before = []
        while True:
            self._check_lost()
            while self._responses:
                r = self._responses.popleft()
                if r["op"] == op and (where is None or where(r)):
                    return r, before
                before.append(r)
            body = self._next_control(deadline, until_response=True)
            if body is None:
                self._responses.extendleft(reversed(before))
                raise HostLinkError(
                    f"No {Rsp(op).name} response from the board within {timeout} s "
                    f"({self.stats['bad_frames_in']} damaged frames received so far)"
                )
            if body:
                self.stats["stray_answers"] += 1

    def read_status(self, reg: StatusReg) -> int:
        """Value of a status register (other responses stay queued for :meth:`poll`)."""
        self.send_words([self.commands.read_status(reg)])
        r, before = self.wait_for(Rsp.STATUS, where=lambda r: r["a"] == int(reg))
        self._responses.extendleft(reversed(before))
        return r["b"]

    def read_state(self, tile, neuron: int) -> tuple[int, int]:
        """(u, v) of one neuron, sign-extended from 24 bits."""
        self.send_words([self.commands.read_state(tile, neuron)])
        r, before = self.wait_for(Rsp.STATE)
        self._responses.extendleft(reversed(before))

        def s24(x):
            return x - (1 << 24) if x >> 23 else x

        return s24(r["b"] & 0xFFFFFF), s24((r["b"] >> 24) & 0xFFFFFF)

    def exchange(self, words, *, until, timeout: float | None = None) -> list[tuple]:
        """Send command words, then collect responses until ``until(responses)`` is true.

        The bridge to the image loader of ``spikemesh.firmware.loader``: pass it
        ``pack_commands(image, cmds)`` and a predicate such as "all TICK_DONEs
        and STATE responses are in"; the result is a list of ``(op, a, b)``
        tuples in arrival order, as ``decode_run`` takes them. Raises
        :class:`HostLinkError` if ``until`` is not satisfied within ``timeout``.
        """
        timeout = self.timeout * self.retries if timeout is None else timeout
        out = []

        def take():
            out.extend((int(r["op"]), r["a"], r["b"]) for r in self._responses)
            self._responses.clear()

        self.send_words(words)
        deadline = time.monotonic() + timeout
        while True:
            self._check_lost()
            take()
            if until(out):
                return out
            if self._next_control(deadline, until_response=True) is None:
                take()
                if until(out):
                    return out
                raise HostLinkError(
                    f"The board's responses were incomplete after {timeout} s ({len(out)} received)"
                )

    def run_ticks(self, inputs_per_tick) -> list[dict]:
        """RUN len(inputs) ticks, feeding each tick's ``(tile, axon)`` events.

        Returns one dict per tick: ``tick``, ``cycles`` and ``spikes`` (the
        SPIKE responses received before its TICK_DONE).
        """
        inputs_per_tick = list(inputs_per_tick)
        self.run(len(inputs_per_tick))
        out = []
        for events in inputs_per_tick:
            self.send_words(
                [*(self.commands.input(t, a) for t, a in events), self.commands.end_tick()]
            )
            done, before = self.wait_for(Rsp.TICK_DONE)
            out.append(
                {
                    "tick": done["a"],
                    "cycles": done["b"],
                    "spikes": [r for r in before if r["op"] == Rsp.SPIKE],
                }
            )
            self._responses.extendleft(reversed([r for r in before if r["op"] != Rsp.SPIKE]))
        return out


__all__ = [
    "BridgeModel",
    "FaultyLink",
    "HostLinkError",
    "HostLinkTimeout",
    "HostLinkUART",
    "ResponseLost",
    "loopback_chip",
]
