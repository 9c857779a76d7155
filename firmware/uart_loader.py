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
    Cmd,
    Frame,
    HostCommands,
    Nak,
    Rsp,
    SlipDecoder,
    StatusReg,
    build_frame,
    crc16_ccitt,
    decode_response,
    encode_response,
    response_layout,
    word_bytes,
    word_from_bytes,
    word_to_bytes,
)


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


# --- Python twin of the bridge, and test transports --------------------------


def loopback_chip(commands: HostCommands):
    """The behaviour of rtl/boards.py::LoopbackChip (test-only stand-in for the chip).

    Returns a function ``command word -> list of response words``:

    * INPUT(axon): SPIKE with a = tick, b = axon
    * END_TICK: TICK_DONE with a = tick, b = command words received before it; tick += 1
    * READ_STATUS(reg): STATUS with a = reg, b = command words received before it
    * READ_STATE: STATE with a = arg, b = the low 48 bits of ``data`` (checks the data path)
    * RESET: tick = 0; others: no response
    """
    state = {"tick": 0, "count": 0}

    def step(word):
        f = commands.decode(word)
        tick, count = state["tick"], state["count"]
        state["count"] = (count + 1) & 0xFFFFFFFF
        op = f["op"]
        if op == Cmd.INPUT:
            return [encode_response(Rsp.SPIKE, tick, f["arg"])]
        if op == Cmd.END_TICK:
            state["tick"] = (tick + 1) & 0xFFFFFFFF
            return [encode_response(Rsp.TICK_DONE, tick, count)]
        if op == Cmd.READ_STATUS:
            return [encode_response(Rsp.STATUS, f["arg"], count)]
        if op == Cmd.READ_STATE:
            return [encode_response(Rsp.STATE, f["arg"], f["data"] & ((1 << 48) - 1))]
        if op == Cmd.RESET:
            state["tick"] = 0
        return []

    return step


class BridgeModel:
    """Python twin of :class:`spikemesh.rtl.hostbridge.HostBridge`, as a transport.

    Bytes written are the host's UART bytes; complete frames are handled at
    once and the bridge's answer is queued for ``read``. ``chip`` maps a
    command word to the response words it causes (each must fit the response
    layout: the RTL's response port is no wider).

    ``cmd_width`` is the command word's width in bits (the RTL's ``cmd_shape``;
    default ``8 * cmd_bytes``): a CMD frame with a word that has a bit set
    above it is refused with NAK WIDTH, as the RTL does, never truncated.
    """

    empty_read_is_timeout = True

    def __init__(
        self,
        chip,
        *,
        cmd_bytes: int,
        cmd_width: int | None = None,
        max_words: int = 16,
        rsp_batch: int = 8,
    ):
        cmd_width = 8 * cmd_bytes if cmd_width is None else cmd_width
        if not 8 * (cmd_bytes - 1) < cmd_width <= 8 * cmd_bytes:
            raise ValueError(
                f"BridgeModel cmd_width {cmd_width} does not take {cmd_bytes} bytes "
                f"(a width of {8 * (cmd_bytes - 1) + 1}..{8 * cmd_bytes} bits does)"
            )
        self.chip = chip
        self.cmd_bytes = cmd_bytes
        self.cmd_width = cmd_width
        self.rsp_layout = response_layout()
        self.rsp_bytes = word_bytes(self.rsp_layout)
        self.max_words = max_words
        self.rsp_batch = rsp_batch
        self.applied = []  # every command word the chip received, in order
        self.counters = {"naks": 0, "drops": 0, "rx_errors": 0}
        self._decoder = SlipDecoder()
        self._out = bytearray()
        self._last_seq = None
        self._rseq = 0

    def write(self, data: bytes) -> int:
        for body in self._decoder.feed(data):
            self._handle(body)
        return len(data)

    def read(self, n: int = 1) -> bytes:
        out, self._out = bytes(self._out[:n]), self._out[n:]
        return out

    def _answer(self, ftype, seq, payload=b""):
        self._out += build_frame(ftype, seq, payload)

    def _nak(self, seq, reason):
        self.counters["naks"] += 1
        self._answer(Frame.NAK, seq, bytes([reason]))

    def _handle(self, body):
        seq = body[1] if body is not None and len(body) > 1 else 0
        if body is None:
            return self._nak(seq, Nak.ESCAPE)
        if len(body) < 4 or crc16_ccitt(body) != 0:
            return self._nak(seq, Nak.CRC)
        ftype, payload = body[0], body[2:-2]
        if ftype == Frame.CMD:
            if len(payload) > self.max_words * self.cmd_bytes:
                return self._nak(seq, Nak.OVERFLOW)
            if not payload or len(payload) % self.cmd_bytes:
                return self._nak(seq, Nak.LENGTH)
            cb = self.cmd_bytes
            words = [
                int.from_bytes(payload[i : i + cb], "little") for i in range(0, len(payload), cb)
            ]
            if any(w >> self.cmd_width for w in words):
                return self._nak(seq, Nak.WIDTH)
            if seq != self._last_seq:
                rsp = []
                for word in words:
                    self.applied.append(word)
                    rsp += self.chip(word)
                self._last_seq = seq
                for i in range(0, len(rsp), self.rsp_batch):
                    chunk = rsp[i : i + self.rsp_batch]
                    self._answer(
                        Frame.RSP,
                        self._rseq,
                        b"".join(word_to_bytes(self.rsp_layout, w) for w in chunk),
                    )
                    self._rseq = (self._rseq + 1) & 0xFF
            return self._answer(Frame.ACK, seq)
        if ftype in (Frame.SYNC, Frame.PING):
            if payload:
                return self._nak(seq, Nak.LENGTH)
            if ftype == Frame.SYNC:
                self._last_seq = None
                return self._answer(Frame.ACK, seq)
            self._last_seq = seq  # as the RTL: a PING's seq counts as the last one seen
            info = {
                "version": FRAME_VERSION,
                "cmd_bytes": self.cmd_bytes,
                "rsp_bytes": self.rsp_bytes,
                "max_words": self.max_words,
                "rsp_batch": self.rsp_batch,
                **self.counters,
            }
            return self._answer(Frame.INFO, seq, bytes(info[k] & 0xFF for k in INFO_FIELDS))
        return self._nak(seq, Nak.TYPE)


class FaultyLink:
    """Wraps a transport and damages traffic on purpose (tests, demos).

    Parameters
    ----------
    inner : transport
    faults : dict, optional
        Scheduled faults keyed by write number (0-based count of ``write``
        calls): ``"corrupt"`` flips a bit of a byte of that write, ``"drop"``
        loses the write, ``"drop_reply"`` / ``"corrupt_reply"`` lose or damage
        everything the inner transport answers to it.
    rate : float
        Probability of a random fault per write (seeded by ``seed``).
    """

    def __init__(self, inner, *, faults=None, rate: float = 0.0, seed: int = 0):
        self.inner = inner
        self.faults = dict(faults or {})
        self.rate = rate
        self.rng = random.Random(seed)
        self.writes = 0
        self.log = []
        self.empty_read_is_timeout = getattr(inner, "empty_read_is_timeout", False)

    def _flip(self, data: bytes) -> bytes:
        data = bytearray(data)
        # never hit the leading END: damage the frame, not the delimiter
        i = self.rng.randrange(1, len(data) - 1) if len(data) > 2 else 0
        data[i] ^= 1 << self.rng.randrange(8)
        return bytes(data)

    def write(self, data: bytes) -> int:
        n = self.writes
        self.writes += 1
        fault = self.faults.pop(n, None)
        if fault is None and self.rate and self.rng.random() < self.rate:
            fault = self.rng.choice(["corrupt", "drop", "drop_reply", "corrupt_reply"])
        if fault:
            self.log.append((n, fault))
        if fault == "drop":
            return len(data)
        self.inner.write(self._flip(data) if fault == "corrupt" else data)
        if fault in ("drop_reply", "corrupt_reply"):
            reply = b""
            while chunk := self.inner.read(4096):
                reply += chunk
            if fault == "corrupt_reply" and reply:
                self._pending = self._flip(reply)
            else:
                self._pending = b""
            self._pending_set = True
        return len(data)

    def read(self, n: int = 1) -> bytes:
        if getattr(self, "_pending_set", False):
            self._pending_set = False
            return self._pending
        return self.inner.read(n)
