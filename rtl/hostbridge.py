"""Framed, checksummed host link over a UART byte stream (docs/boards.md).

Host frames (CMD, SYNC, PING) are SLIP-delimited, carry a sequence number and
end in a CRC-16/CCITT. The bridge buffers a whole CMD frame before it hands a
single word to the chip, so a corrupted or truncated frame, or one with a
word that has a bit set above the command word's width (in the padding bits
of its last byte: NAK WIDTH, never truncated onto another command), is refused
(NAK) and never partly applied. A CMD frame with the sequence number of the
last applied one is a retransmission after a lost ACK: it is acknowledged
again but not applied twice. The host keeps one frame in flight (stop-and-wait).

Chip responses leave in RSP frames (up to ``rsp_batch`` words each) with their
own CRC and an 8-bit response sequence number ``rseq`` that counts RSP frames:
the host detects a lost or corrupted RSP frame as a gap in ``rseq`` (there is
no resend; the host re-reads what it needs through READ_STATUS / READ_STATE).

The frame formats and constants live in :mod:`spikemesh.hostlink`; the host
side is :class:`spikemesh.firmware.uart_loader.HostLinkUART`, and its Python
twin of this block is :class:`spikemesh.firmware.bridge_twin.BridgeModel`.
"""

from amaranth import Array, Cat, Const, Module, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikemesh.hostlink import (
    FRAME_VERSION,
    INFO_FIELDS,
    SLIP_END,
    SLIP_ESC,
    SLIP_ESC_END,
    SLIP_ESC_ESC,
    Frame,
    Nak,
)

from .contracts import mark_unused


def crc16_step(crc, byte):
    """One byte of CRC-16/CCITT-FALSE as logic (the unrolled bit loop of ``crc16_ccitt``)."""
    bits = list(crc ^ Cat(Const(0, 8), byte))
    for _ in range(8):
        msb = bits[15]
        # shift left by one; xor 0x1021 when the bit shifted out was set
        shifted = [Const(0, 1), *bits[:15]]
        bits = [b ^ msb if (0x1021 >> i) & 1 else b for i, b in enumerate(shifted)]
    return Cat(*bits)


class HostBridge(wiring.Component):
    """UART byte stream <-> host-link command / response words.

    Parameters
    ----------
    cmd_shape, rsp_shape : shape-castable
        Payload shapes of the chip's ``i_cmd`` and ``o_rsp`` streams (for the
        chip, ``command_layout(...).struct()`` and ``response_layout().struct()``);
        each word travels in ``ceil(width / 8)`` bytes, little-endian, which
        must be at least 3; the padding bits above a command word's width must
        be zero (else NAK WIDTH). :meth:`for_chip` reads them off a chip
        component.
    max_words : int
        Most command words in one CMD frame (1..255); sets the frame buffer
        (``max_words * cmd_bytes + 2`` bytes of block RAM).
    rsp_batch : int
        Most response words in one RSP frame (1..255): the bridge keeps adding
        words to an RSP frame while the chip has them ready.

    Members
    -------
    i_rx : In(stream.Signature(8))
        Bytes from the UART receiver; always ready (a UART cannot be stalled).
        Bytes that arrive while the bridge is busy with a frame make the frame
        they belong to be dropped silently; the host times out and retransmits.
    o_tx : Out(stream.Signature(8))
        Bytes to the UART transmitter.
    o_cmd : Out(stream.Signature(cmd_shape))
        Command words to the chip, in frame order.
    i_rsp : In(stream.Signature(rsp_shape))
        Response words from the chip.
    rx_error : In(1)
        Pulse from the UART (framing error or overrun); counted in INFO.
    applied, refused : Out(1)
        One-cycle pulses: a CMD frame was applied; a frame was refused (NAK)
        or dropped.
    """

    def __init__(self, *, cmd_shape, rsp_shape, max_words: int = 16, rsp_batch: int = 8):
        try:
            self._check(cmd_shape, rsp_shape, max_words, rsp_batch)
        except Exception:
            mark_unused(self)  # not built: no "created but never used" warning
            raise
        super().__init__(
            {
                "i_rx": In(stream.Signature(8)),
                "o_tx": Out(stream.Signature(8)),
                "o_cmd": Out(stream.Signature(cmd_shape)),
                "i_rsp": In(stream.Signature(rsp_shape)),
                "rx_error": In(1),
                "applied": Out(1),
                "refused": Out(1),
            }
        )

    def _check(self, cmd_shape, rsp_shape, max_words, rsp_batch):
        self.cmd_width = Shape.cast(cmd_shape).width
        self.rsp_width = Shape.cast(rsp_shape).width
        self.cmd_bytes = (self.cmd_width + 7) // 8
        self.rsp_bytes = (self.rsp_width + 7) // 8
        for what, n in (("Command", self.cmd_bytes), ("Response", self.rsp_bytes)):
            if not 3 <= n <= 255:
                raise ValueError(f"{what} words must take between 3 and 255 bytes, not {n}")
        for what, n in (("max_words", max_words), ("rsp_batch", rsp_batch)):
            if not isinstance(n, int) or not 1 <= n <= 255:
                raise ValueError(
                    f"HostBridge {what} must be an integer between 1 and 255, not {n!r}"
                )
        self.max_words = max_words
        self.rsp_batch = rsp_batch

    @classmethod
    def for_chip(cls, chip, **kwargs):
        """A bridge whose word shapes match ``chip.i_cmd`` and ``chip.o_rsp``."""
        return cls(
            cmd_shape=chip.i_cmd.payload.shape(), rsp_shape=chip.o_rsp.payload.shape(), **kwargs
        )

    @property
    def info(self) -> dict:
        """The constant part of the INFO frame (the host checks it against its own layouts)."""
        return {
            "version": FRAME_VERSION,
            "cmd_bytes": self.cmd_bytes,
            "rsp_bytes": self.rsp_bytes,
            "max_words": self.max_words,
            "rsp_batch": self.rsp_batch,
        }

    def elaborate(self, platform):
        m = Module()
        cb, rb = self.cmd_bytes, self.rsp_bytes
        cap = self.max_words * cb + 2  # payload + CRC bytes held in the buffer

        # Frame buffer: payload bytes (and the two CRC bytes) of one CMD frame,
        # one block RAM. (A word-wide buffer with byte enables would spare the
        # word shift register below, ~40 iCE40 logic cells, but take 7 of the
        # UP5K's 30 RAMs instead of 1.) The read is not transparent: reads only
        # happen after the frame is complete, never in the same cycle as a write.
        m.submodules.buf = buf = Memory(shape=8, depth=cap, init=[])
        wr = buf.write_port()
        rd = buf.read_port(transparent_for=())

        # --- control frame hand-off RX -> TX ---------------------------------
        ctl_pending = Signal()
        ctl_type = Signal(8)
        ctl_seq = Signal(8)
        ctl_reason = Signal(8)

        naks = Signal(8)
        drops = Signal(8)
        rx_errors = Signal(8)
        with m.If(self.rx_error):
            m.d.sync += rx_errors.eq(rx_errors + 1)

        # --- receiver: SLIP decode, CRC, buffer ------------------------------
        esc = Signal()
        bad_esc = Signal()
        discard = Signal()
        hdr = Signal(range(3))  # header bytes seen (type, seq)
        ftype = Signal(8)
        fseq = Signal(8)
        nbytes = Signal(range(cap + 2))  # bytes after the header, saturating at cap + 1
        mod = Signal(range(cb))  # nbytes mod cb
        words = Signal(range(self.max_words + 2))  # whole cb-byte groups after the header
        rx_crc = Signal(16, init=0xFFFF)
        # a bit set above the command word in the last byte of one of the frame's words
        wide = Signal()
        pad_bits = cb * 8 - self.cmd_width  # 0..7 padding bits at the top of the last byte

        last_seq = Signal(8)
        have_last = Signal()
        apply_words = Signal(range(self.max_words + 1))
        rd_addr = Signal(range(cap))
        k = Signal(range(cb))
        word_buf = Signal(cb * 8)

        m.d.comb += [
            self.i_rx.ready.eq(1),
            rd.addr.eq(rd_addr),
            wr.addr.eq(nbytes),
            self.o_cmd.payload.eq(word_buf[: self.cmd_width]),
        ]

        byte = self.i_rx.payload
        got = self.i_rx.valid
        is_end = byte == SLIP_END

        def clear_frame():
            return [
                esc.eq(0),
                bad_esc.eq(0),
                discard.eq(0),
                hdr.eq(0),
                nbytes.eq(0),
                mod.eq(0),
                words.eq(0),
                rx_crc.eq(0xFFFF),
                wide.eq(0),
            ]

        def queue(ftype_, reason=0):
            return [ctl_pending.eq(1), ctl_type.eq(ftype_), ctl_seq.eq(fseq), ctl_reason.eq(reason)]

        data = Signal(8)
        data_strobe = Signal()

        with m.FSM() as rx_fsm:
            with m.State("RECV"):
                with m.If(got):
                    with m.If(is_end):
                        with m.If(discard):
                            m.d.sync += drops.eq(drops + 1)
                            m.d.comb += self.refused.eq(1)
                            m.d.sync += clear_frame()
                        with m.Elif((hdr != 0) | bad_esc | esc):
                            m.next = "DECIDE"
                        with m.Else():
                            m.d.sync += clear_frame()  # END END: an empty frame, skipped
                    with m.Elif(discard):
                        pass
                    with m.Elif(esc):
                        m.d.sync += esc.eq(0)
                        with m.If(byte == SLIP_ESC_END):
                            m.d.comb += [data.eq(SLIP_END), data_strobe.eq(1)]
                        with m.Elif(byte == SLIP_ESC_ESC):
                            m.d.comb += [data.eq(SLIP_ESC), data_strobe.eq(1)]
                        with m.Else():
                            m.d.sync += bad_esc.eq(1)
                    with m.Elif(byte == SLIP_ESC):
                        m.d.sync += esc.eq(1)
                    with m.Else():
                        m.d.comb += [data.eq(byte), data_strobe.eq(1)]

            with m.State("DECIDE"):
                m.d.sync += clear_frame()
                m.next = "WAIT_CTL"
                short = (hdr != 2) | (nbytes < 2)
                with m.If(bad_esc | esc):
                    m.d.sync += queue(Frame.NAK, Nak.ESCAPE)
                with m.Elif(short | (rx_crc != 0)):
                    m.d.sync += queue(Frame.NAK, Nak.CRC)
                with m.Elif(ftype == Frame.CMD):
                    with m.If(nbytes > cap):
                        m.d.sync += queue(Frame.NAK, Nak.OVERFLOW)
                    with m.Elif((mod != 2 % cb) | (words == 0)):
                        m.d.sync += queue(Frame.NAK, Nak.LENGTH)
                    with m.Elif(wide):
                        m.d.sync += queue(Frame.NAK, Nak.WIDTH)
                    with m.Elif(have_last & (fseq == last_seq)):
                        m.d.sync += queue(Frame.ACK)  # a retransmission: already applied
                    with m.Else():
                        m.d.sync += [apply_words.eq(words), rd_addr.eq(0), k.eq(0)]
                        m.next = "APPLY_RD"
                with m.Elif((ftype == Frame.SYNC) | (ftype == Frame.PING)):
                    with m.If(nbytes != 2):
                        m.d.sync += queue(Frame.NAK, Nak.LENGTH)
                    with m.Elif(ftype == Frame.SYNC):
                        m.d.sync += [have_last.eq(0), queue(Frame.ACK)]
                    with m.Else():
                        # PING takes a sequence number too: remember it, or a CMD
                        # 256 frames after the last applied one would look like a
                        # duplicate of it. (A repeated PING is harmless.)
                        m.d.sync += [last_seq.eq(fseq), have_last.eq(1), queue(Frame.INFO)]
                with m.Else():
                    m.d.sync += queue(Frame.NAK, Nak.TYPE)

            with m.State("APPLY_RD"):
                m.next = "APPLY_SHIFT"  # rd.data holds buf[rd_addr] next cycle
            with m.State("APPLY_SHIFT"):
                # little-endian: the first byte ends up in the low bits
                m.d.sync += [
                    word_buf.eq(Cat(word_buf[8:], rd.data)),
                    rd_addr.eq(rd_addr + 1),
                    k.eq(k + 1),
                ]
                with m.If(k == cb - 1):
                    m.d.sync += k.eq(0)
                    m.next = "EMIT"
                with m.Else():
                    m.next = "APPLY_RD"
            with m.State("EMIT"):
                m.d.comb += self.o_cmd.valid.eq(1)
                with m.If(self.o_cmd.ready):
                    m.d.sync += apply_words.eq(apply_words - 1)
                    with m.If(apply_words == 1):
                        m.d.sync += [last_seq.eq(fseq), have_last.eq(1), queue(Frame.ACK)]
                        m.d.comb += self.applied.eq(1)
                        m.next = "WAIT_CTL"
                    with m.Else():
                        m.next = "APPLY_RD"

            with m.State("WAIT_CTL"):
                with m.If(~ctl_pending):
                    m.next = "RECV"
                    with m.If(ctl_type == Frame.NAK):
                        m.d.comb += self.refused.eq(1)
                        m.d.sync += naks.eq(naks + 1)

        # Bytes that arrive while the bridge is busy with the previous frame:
        # the frame they belong to is incomplete, drop it up to its END.
        with m.If(got & ~rx_fsm.ongoing("RECV")):
            m.d.sync += discard.eq(~is_end)
            with m.If(is_end & discard):
                m.d.sync += drops.eq(drops + 1)
                m.d.comb += self.refused.eq(1)

        with m.If(data_strobe):
            m.d.sync += rx_crc.eq(crc16_step(rx_crc, data))
            with m.If(hdr == 0):
                m.d.sync += [ftype.eq(data), hdr.eq(1)]
            with m.Elif(hdr == 1):
                m.d.sync += [fseq.eq(data), hdr.eq(2)]
            with m.Else():
                m.d.comb += [wr.data.eq(data), wr.en.eq(nbytes < cap)]
                with m.If(nbytes <= cap):
                    m.d.sync += nbytes.eq(nbytes + 1)
                with m.If(mod == cb - 1):
                    m.d.sync += mod.eq(0)
                    # the word's last byte (the CRC's two bytes never end a group, cb >= 3)
                    if pad_bits:
                        with m.If(data[8 - pad_bits :] != 0):
                            m.d.sync += wide.eq(1)
                    with m.If(words <= self.max_words):
                        m.d.sync += words.eq(words + 1)
                with m.Else():
                    m.d.sync += mod.eq(mod + 1)

        # --- transmitter: frame generator -> SLIP stuffer -> o_tx -------------
        raw = Signal(8)
        raw_end = Signal()
        raw_valid = Signal()
        raw_ready = Signal()
        pend = Signal()
        pend_byte = Signal(8)
        tx = self.o_tx

        out_free = ~tx.valid | tx.ready
        m.d.comb += raw_ready.eq(~pend & out_free)
        with m.If(raw_valid & raw_ready):
            m.d.sync += tx.valid.eq(1)
            with m.If(raw_end):
                m.d.sync += tx.payload.eq(SLIP_END)
            with m.Elif(raw == SLIP_END):
                m.d.sync += [tx.payload.eq(SLIP_ESC), pend.eq(1), pend_byte.eq(SLIP_ESC_END)]
            with m.Elif(raw == SLIP_ESC):
                m.d.sync += [tx.payload.eq(SLIP_ESC), pend.eq(1), pend_byte.eq(SLIP_ESC_ESC)]
            with m.Else():
                m.d.sync += tx.payload.eq(raw)
        with m.Elif(pend & out_free):
            m.d.sync += [tx.payload.eq(pend_byte), tx.valid.eq(1), pend.eq(0)]
        with m.Elif(tx.ready):
            m.d.sync += tx.valid.eq(0)

        take = raw_valid & raw_ready
        tx_crc = Signal(16)
        tx_type = Signal(8)
        tx_seq = Signal(8)
        tx_reason = Signal(8)
        is_rsp = Signal()
        rseq = Signal(8)
        # The response word is read in place, a byte at a time: its payload
        # holds until the transfer (stream rule), so no copy is needed.
        rsp_bytes = Cat(self.i_rsp.payload.as_value(), Const(0, rb * 8 - self.rsp_width))
        rsp_byte = Array(rsp_bytes[8 * i : 8 * i + 8] for i in range(rb))
        nsent = Signal(range(self.rsp_batch + 1))
        idx = Signal(range(max(rb, len(INFO_FIELDS)) + 1))  # byte of a word or control frame

        info = [FRAME_VERSION, cb, rb, self.max_words, self.rsp_batch]
        ctl_bytes = Array([Const(v, 8) for v in info] + [naks, drops, rx_errors])
        ctl_len = Signal(range(9))
        m.d.comb += ctl_len.eq(0)
        with m.If(tx_type == Frame.NAK):
            m.d.comb += ctl_len.eq(1)
        with m.Elif(tx_type == Frame.INFO):
            m.d.comb += ctl_len.eq(len(ctl_bytes))

        def crc_take(value):
            return tx_crc.eq(crc16_step(tx_crc, value))

        with m.FSM():
            with m.State("IDLE"):
                with m.If(ctl_pending):
                    m.d.sync += [
                        tx_type.eq(ctl_type),
                        tx_seq.eq(ctl_seq),
                        tx_reason.eq(ctl_reason),
                        is_rsp.eq(0),
                        ctl_pending.eq(0),
                    ]
                    m.next = "START"
                with m.Elif(self.i_rsp.valid):
                    m.d.sync += [tx_type.eq(Frame.RSP), tx_seq.eq(rseq), is_rsp.eq(1)]
                    m.next = "START"
            with m.State("START"):
                m.d.comb += [raw_end.eq(1), raw_valid.eq(1)]
                with m.If(take):
                    m.d.sync += tx_crc.eq(0xFFFF)
                    m.next = "TYPE"
            with m.State("TYPE"):
                m.d.comb += [raw.eq(tx_type), raw_valid.eq(1)]
                with m.If(take):
                    m.d.sync += crc_take(raw)
                    m.next = "SEQ"
            with m.State("SEQ"):
                m.d.comb += [raw.eq(tx_seq), raw_valid.eq(1)]
                with m.If(take):
                    m.d.sync += [crc_take(raw), idx.eq(0), nsent.eq(1)]
                    with m.If(is_rsp):
                        m.next = "WORD"
                    with m.Elif(ctl_len != 0):
                        m.next = "CTL"
                    with m.Else():
                        m.next = "CRC_HI"
            with m.State("WORD"):
                # i_rsp.valid has held since IDLE / NEXT (stream rule)
                m.d.comb += [raw.eq(rsp_byte[idx]), raw_valid.eq(1)]
                with m.If(take):
                    m.d.sync += [crc_take(raw), idx.eq(idx + 1)]
                    with m.If(idx == rb - 1):
                        m.d.comb += self.i_rsp.ready.eq(1)
                        m.d.sync += idx.eq(0)
                        m.next = "NEXT"
            with m.State("NEXT"):
                # more words in this frame while the chip has them ready
                with m.If(self.i_rsp.valid & (nsent < self.rsp_batch)):
                    m.d.sync += nsent.eq(nsent + 1)
                    m.next = "WORD"
                with m.Else():
                    m.next = "CRC_HI"
            with m.State("CTL"):
                with m.If(tx_type == Frame.NAK):
                    m.d.comb += raw.eq(tx_reason)
                with m.Else():
                    m.d.comb += raw.eq(ctl_bytes[idx])
                m.d.comb += raw_valid.eq(1)
                with m.If(take):
                    m.d.sync += [crc_take(raw), idx.eq(idx + 1)]
                    with m.If(idx == ctl_len - 1):
                        m.next = "CRC_HI"
            with m.State("CRC_HI"):
                m.d.comb += [raw.eq(tx_crc[8:]), raw_valid.eq(1)]
                with m.If(take):
                    m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [raw.eq(tx_crc[:8]), raw_valid.eq(1)]
                with m.If(take):
                    m.next = "END"
            with m.State("END"):
                m.d.comb += [raw_end.eq(1), raw_valid.eq(1)]
                with m.If(take):
                    with m.If(is_rsp):
                        m.d.sync += rseq.eq(rseq + 1)
                    m.next = "IDLE"
        return m
