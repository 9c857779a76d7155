"""HostBridge on Amaranth's simulator, at the byte-stream level (no UART in between).

The Python twin (firmware/bridge_twin.py::BridgeModel) defines the expected
answers; every test checks the RTL's frames and words against it or against
hand-written expectations.
"""

import random

import pytest
from amaranth.sim import Simulator
from spikemesh.firmware.bridge_twin import BridgeModel
from spikemesh.rtl.hostbridge import HostBridge

from spikemesh.config import ChipConfig
from spikemesh.hostlink import (
    INFO_FIELDS,
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

CMDS = HostCommands(ChipConfig(width=2, height=2), 32)
CB = word_bytes(CMDS.layout)
RSP_LAYOUT = response_layout()


def make(max_words=4, rsp_batch=3):
    return HostBridge(
        cmd_shape=CMDS.layout.struct(),
        rsp_shape=RSP_LAYOUT.struct(),
        max_words=max_words,
        rsp_batch=rsp_batch,
    )


def cmd_frame(seq, words):
    return build_frame(Frame.CMD, seq, b"".join(word_to_bytes(CMDS.layout, w) for w in words))


async def wait(ctx, n):
    if n:
        await ctx.tick().repeat(n)


def run(dut, frames, *, rsp=(), rsp_at=0, settle=400, cmd_ready=1.0, gap=3, seed=0, cycles=None):
    """Feed ``frames`` (bytes each), waiting ``settle`` cycles after each.

    Returns (answer frame bodies, command words out, response words of RSP
    frames, pulse counts).
    """
    rng = random.Random(seed)
    tx, cmds, pulses = bytearray(), [], {"applied": 0, "refused": 0}
    total = cycles or sum(len(f) * (gap + 1) + settle for f in frames) + 200 + 40 * len(rsp)

    async def feed(ctx):
        await ctx.tick().repeat(2)
        for f in frames:
            for b in f:
                ctx.set(dut.i_rx.payload, b)
                ctx.set(dut.i_rx.valid, 1)
                await ctx.tick()
                ctx.set(dut.i_rx.valid, 0)
                await wait(ctx, gap)
            await wait(ctx, settle)

    async def responses(ctx):
        await wait(ctx, rsp_at)
        for w in rsp:
            ctx.set(dut.i_rsp.payload, RSP_LAYOUT.unpack(w))
            ctx.set(dut.i_rsp.valid, 1)
            await ctx.tick().until(dut.i_rsp.ready)
            ctx.set(dut.i_rsp.valid, 0)

    async def monitor(ctx):
        ctx.set(dut.o_tx.ready, 1)
        for _ in range(total):
            ctx.set(dut.o_cmd.ready, rng.random() < cmd_ready)
            _, _, tv, tp, cv, cr, cp, ap, rf = await ctx.tick().sample(
                dut.o_tx.valid,
                dut.o_tx.payload,
                dut.o_cmd.valid,
                dut.o_cmd.ready,
                dut.o_cmd.payload.as_value(),
                dut.applied,
                dut.refused,
            )
            if tv:
                tx.append(tp)
            if cv and cr:
                cmds.append(cp)
            pulses["applied"] += ap
            pulses["refused"] += rf

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for tb in (feed, responses, monitor):
        sim.add_testbench(tb)
    sim.run()
    bodies = SlipDecoder().feed(bytes(tx))
    assert all(b is not None and crc16_ccitt(b) == 0 for b in bodies), bodies
    answers = [b[:-2] for b in bodies if b[0] != Frame.RSP]
    rsp_words = []
    for b in bodies:
        if b[0] == Frame.RSP:
            rb = word_bytes(RSP_LAYOUT)
            p = b[2:-2]
            rsp_words += [int.from_bytes(p[i : i + rb], "little") for i in range(0, len(p), rb)]
    return answers, cmds, rsp_words, pulses, bodies


def test_init_wrong_sizes():
    with pytest.raises(ValueError, match=r"Command words must take between 3 and 255 bytes, not 2"):
        HostBridge(cmd_shape=16, rsp_shape=RSP_LAYOUT.struct())
    with pytest.raises(
        ValueError,
        match=r"HostBridge max_words must be an integer between 1 and "
        r"255, not 0",
    ):
        HostBridge(cmd_shape=CMDS.layout.struct(), rsp_shape=RSP_LAYOUT.struct(), max_words=0)


def test_words_in_order_and_acked():
    dut = make()
    # 0xC0 / 0xDB bytes inside words exercise the SLIP escapes
    w1 = [CMDS.config_write((1, 1), 0xC0DB, 0xDBC0C0DB), CMDS.input((0, 1), 7), CMDS.end_tick()]
    w2 = [CMDS.run(0xC0C0)]
    answers, cmds, _, pulses, _ = run(dut, [cmd_frame(0xC0, w1), cmd_frame(0xC1, w2)])
    assert cmds == w1 + w2
    assert answers == [bytes([Frame.ACK, 0xC0]), bytes([Frame.ACK, 0xC1])]
    assert pulses == {"applied": 2, "refused": 0}


def test_backpressure_on_commands():
    dut = make()
    words = [CMDS.config_write((0, 0), a, a * 7) for a in range(4)]
    answers, cmds, _, _, _ = run(dut, [cmd_frame(1, words)], cmd_ready=0.2, seed=5, settle=800)
    assert cmds == words
    assert answers == [bytes([Frame.ACK, 1])]


def test_duplicate_acked_not_applied_and_sync_resets():
    dut = make()
    w = [CMDS.input((0, 0), 1)]
    frames = [
        cmd_frame(9, w),
        cmd_frame(9, w),
        cmd_frame(10, w),
        build_frame(Frame.SYNC, 3),
        cmd_frame(10, w),
    ]
    answers, cmds, _, pulses, _ = run(dut, frames)
    assert cmds == w * 3
    assert [a[1] for a in answers] == [9, 9, 10, 3, 10]
    assert all(a[0] == Frame.ACK for a in answers)
    assert pulses["applied"] == 3


def test_ping_takes_the_place_of_the_last_seq():
    # CMD 7 applied, PING 8: a later CMD 7 is new (after 256 frames, seq wraps)
    dut = make()
    w = [CMDS.end_tick()]
    frames = [cmd_frame(7, w), build_frame(Frame.PING, 8), cmd_frame(7, w), cmd_frame(7, w)]
    answers, cmds, _, _, _ = run(dut, frames)
    assert [a[:2] for a in answers] == [
        bytes([Frame.ACK, 7]),
        bytes([Frame.INFO, 8]),
        bytes([Frame.ACK, 7]),
        bytes([Frame.ACK, 7]),
    ]
    assert cmds == w * 2


def wide(word, bit):
    """``word``'s bytes with padding bit ``bit`` (above the layout's width) set."""
    assert CMDS.layout.width <= bit < 8 * CB
    return (word | 1 << bit).to_bytes(CB, "little")


def corrupt(frame, i=3, bit=2):
    f = bytearray(frame)
    f[i] ^= 1 << bit
    return bytes(f)


@pytest.mark.parametrize(
    "frame, reason",
    [
        (corrupt(cmd_frame(4, [CMDS.end_tick()])), Nak.CRC),
        (build_frame(Frame.CMD, 4, bytes(CB + 1)), Nak.LENGTH),
        (build_frame(Frame.CMD, 4, b""), Nak.LENGTH),
        (build_frame(Frame.CMD, 4, bytes(5 * CB)), Nak.OVERFLOW),
        (build_frame(Frame.SYNC, 4, b"\x01"), Nak.LENGTH),
        (build_frame(0x42, 4), Nak.TYPE),
        (b"\xc0\x01\x04\xdb\x01\x00\x00\xc0", Nak.ESCAPE),
        (b"\xc0\x01\xc0", Nak.CRC),  # too short to hold a CRC
        # a bit above the 70-bit command word, in its last byte's padding: refused whole,
        # never truncated onto another command (nor the good word before it applied)
        (build_frame(Frame.CMD, 4, wide(CMDS.end_tick(), 70)), Nak.WIDTH),
        (build_frame(Frame.CMD, 4, wide(CMDS.end_tick(), 8 * CB - 1)), Nak.WIDTH),
        (
            build_frame(
                Frame.CMD, 4, word_to_bytes(CMDS.layout, CMDS.end_tick()) + wide(CMDS.reset(), 71)
            ),
            Nak.WIDTH,
        ),
        # a frame that is wrong twice is refused for its length first, in both models
        (build_frame(Frame.CMD, 4, wide(CMDS.end_tick(), 70) + b"\x00"), Nak.LENGTH),
    ],
)
def test_refused_frames_nak_and_are_not_applied(frame, reason):
    dut = make()
    good = cmd_frame(5, [CMDS.end_tick()])
    answers, cmds, _, pulses, _ = run(dut, [frame, good])
    assert answers[0][0] == Frame.NAK and answers[0][2] == reason
    assert answers[1] == bytes([Frame.ACK, 5])
    assert cmds == [CMDS.end_tick()]
    assert pulses == {"applied": 1, "refused": 1}
    assert_twin_agrees([frame, good], answers, cmds)


def assert_twin_agrees(frames, answers, cmds):
    """The Python twin answers ``frames`` as the RTL did and passes the same words on."""
    model = BridgeModel(lambda w: [], cmd_bytes=CB, cmd_width=CMDS.layout.width, max_words=4)
    model.write(b"".join(frames))

    def no_nak_seq(answers):  # a NAK's seq is only informational (it may be damaged)
        return [a[:1] + a[2:] if a[0] == Frame.NAK else a for a in answers]

    model_answers = [b[:-2] for b in SlipDecoder().feed(model.read(1000))]
    assert no_nak_seq(model_answers) == no_nak_seq(answers)
    assert model.applied == cmds


def test_wide_word_is_refused_even_with_the_last_seq():
    # A frame with the last applied frame's seq is a retransmission only if it is well formed:
    # one with a padding bit set is refused (NAK WIDTH), not acknowledged as a duplicate.
    good = cmd_frame(5, [CMDS.end_tick()])
    bad = build_frame(Frame.CMD, 5, wide(CMDS.end_tick(), 70))
    frames = [good, bad, good, cmd_frame(6, [CMDS.reset()])]
    answers, cmds, _, pulses, _ = run(make(), frames)
    assert [a[0] for a in answers] == [Frame.ACK, Frame.NAK, Frame.ACK, Frame.ACK]
    assert answers[1][2] == Nak.WIDTH
    assert cmds == [CMDS.end_tick(), CMDS.reset()]
    assert pulses == {"applied": 2, "refused": 1}
    assert_twin_agrees(frames, answers, cmds)


def test_frame_arriving_while_busy_is_dropped_silently():
    dut = make()
    w = [CMDS.config_write((0, 0), a, a) for a in range(4)]
    # the second frame starts while the first is still being applied
    # (o_cmd is slow): it is dropped, no answer, and the host will retry
    answers, cmds, _, pulses, _ = run(
        dut,
        [cmd_frame(1, w), cmd_frame(2, w[:1]), cmd_frame(3, w[:1])],
        settle=0,
        gap=1,
        cmd_ready=0.05,
        seed=1,
        cycles=3000,
    )
    assert answers[0] == bytes([Frame.ACK, 1])
    assert cmds[:4] == w
    assert answers == [bytes([Frame.ACK, 1])]
    assert pulses == {"applied": 1, "refused": 2}


def test_ping_info_and_counters():
    dut = make(max_words=4, rsp_batch=3)
    frames = [corrupt(cmd_frame(1, [CMDS.end_tick()])), build_frame(Frame.PING, 77)]
    answers, _, _, _, _ = run(dut, frames)
    info = dict(zip(INFO_FIELDS, answers[1][2:], strict=True))
    assert answers[1][:2] == bytes([Frame.INFO, 77])
    assert info == {**dut.info, "naks": 1, "drops": 0, "rx_errors": 0}


def test_responses_framed_batched_and_counted():
    dut = make(rsp_batch=3)
    words = [encode_response(Rsp.SPIKE, t, 0xC0C0_DBDB_0000 + t) for t in range(7)]
    _, _, rsp_words, _, bodies = run(dut, [], rsp=words, cycles=1500)
    assert rsp_words == words
    rsp_frames = [b for b in bodies if b[0] == Frame.RSP]
    assert [b[1] for b in rsp_frames] == list(range(len(rsp_frames)))
    assert all(len(b) - 4 <= 3 * word_bytes(RSP_LAYOUT) for b in rsp_frames)
    assert len(rsp_frames) >= 3


def test_responses_interleave_with_acks():
    dut = make()
    words = [encode_response(Rsp.TICK_DONE, t, t) for t in range(5)]
    frames = [cmd_frame(s, [CMDS.end_tick()]) for s in range(4)]
    answers, cmds, rsp_words, _, _ = run(dut, frames, rsp=words, rsp_at=30)
    assert rsp_words == words
    assert answers == [bytes([Frame.ACK, s]) for s in range(4)]
    assert len(cmds) == 4
