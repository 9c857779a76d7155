"""Python twin of the host bridge, and test transports (docs/boards.md).

:class:`BridgeModel` is the twin of :class:`spikemesh.rtl.hostbridge.HostBridge` as a
byte transport (what :class:`~spikemesh.firmware.uart_loader.HostLinkUART` talks to in
the tests), :func:`loopback_chip` the behaviour of the TEST-ONLY ``LoopbackChip`` of
rtl/boards.py, and :class:`FaultyLink` a transport wrapper that damages traffic on
purpose. All three are also importable from :mod:`spikemesh.firmware.uart_loader`.
"""

from __future__ import annotations

import random

from spikemesh.hostlink import (
    FRAME_VERSION,
    INFO_FIELDS,
    Cmd,
    Frame,
    HostCommands,
    Nak,
    Rsp,
    SlipDecoder,
    build_frame,
    crc16_ccitt,
    encode_response,
    response_layout,
    word_bytes,
    word_to_bytes,
)


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
