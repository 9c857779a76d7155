"""Fuzz target: the RTL host bridge's frame decoder (rtl/hostbridge.py) on Amaranth's simulator.

Each input is a few frames of hostile bytes (garbage, bad escapes, bad CRCs, truncated and
over-long frames, unknown types, CMD frames with a bit set above a command word's width,
and good frames among them) fed into ``i_rx``, followed
by one good PING. The bridge must answer that PING with an INFO frame (it is not wedged),
every frame it sends must be well-formed, and no command word may reach the chip that was
not in a good CMD frame (a frame with a bit above a word's width is refused whole, NAK
WIDTH: none of its words, truncated or not, may reach the chip).
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st

from spikemesh.config import ChipConfig
from spikemesh.errors import SpikemeshError
from spikemesh.hostlink import (
    SLIP_END,
    SLIP_ESC,
    Frame,
    HostCommands,
    SlipDecoder,
    build_frame,
    crc16_ccitt,
    response_layout,
    word_bytes,
)

from .harness import Target

CMDS = HostCommands(ChipConfig(width=2, height=2), 32)
CB = word_bytes(CMDS.layout)
MAX_WORDS = 4


@functools.cache
def _dut_factory():
    from spikemesh.rtl.hostbridge import HostBridge

    return lambda: HostBridge(
        cmd_shape=CMDS.layout.struct(),
        rsp_shape=response_layout().struct(),
        max_words=MAX_WORDS,
        rsp_batch=3,
    )


@st.composite
def hostile_frame(draw):
    kind = draw(st.sampled_from(["good_cmd", "bad_crc", "bad_escape", "garbage", "type",
                                 "long", "truncated", "empty", "sync", "ping",
                                 "wide"]))  # fmt: skip
    seq = draw(st.integers(0, 255))
    words = draw(st.lists(st.binary(min_size=CB, max_size=CB), min_size=1, max_size=MAX_WORDS))
    # the words of the well-formed kinds keep the padding bits above the layout's width clear
    pad = 0xFF >> (8 * CB - CMDS.layout.width)
    words = [w[:-1] + bytes([w[-1] & pad]) for w in words]
    payload = b"".join(words)
    if kind == "good_cmd":
        return build_frame(Frame.CMD, seq, payload)
    if kind == "wide":  # one word with a padding bit (above the layout's width) set
        k = draw(st.integers(0, len(words) - 1))
        bit = draw(st.integers(CMDS.layout.width, 8 * CB - 1))
        words[k] = (int.from_bytes(words[k], "little") | 1 << bit).to_bytes(CB, "little")
        return build_frame(Frame.CMD, seq, b"".join(words))
    if kind == "bad_crc":
        f = bytearray(build_frame(Frame.CMD, seq, payload))
        k = draw(st.integers(1, len(f) - 2))
        f[k] ^= 1 << draw(st.integers(0, 7))
        return bytes(f)
    if kind == "bad_escape":
        f = build_frame(Frame.CMD, seq, payload)
        k = draw(st.integers(1, len(f) - 2))
        return f[:k] + bytes([SLIP_ESC, draw(st.integers(0, 255))]) + f[k:]
    if kind == "garbage":
        return draw(st.binary(max_size=40))
    if kind == "type":
        return build_frame(draw(st.integers(0, 255)), seq, draw(st.binary(max_size=12)))
    if kind == "long":
        return build_frame(Frame.CMD, seq, payload * (MAX_WORDS + 1))
    if kind == "truncated":
        f = build_frame(Frame.CMD, seq, payload)
        return f[: draw(st.integers(1, len(f) - 1))] + bytes([SLIP_END])
    if kind == "empty":
        return bytes([SLIP_END] * draw(st.integers(1, 4)))
    if kind == "sync":
        return build_frame(Frame.SYNC, seq, draw(st.sampled_from([b"", b"x"])))
    return build_frame(Frame.PING, seq, draw(st.sampled_from([b"", b"xy"])))


streams = st.lists(hostile_frame(), min_size=1, max_size=8)


def _good_words(frames) -> set:
    """Command words of every good CMD frame (what may reach the chip)."""
    words = set()
    for body in SlipDecoder().feed(b"".join(frames)):
        if body and len(body) >= 4 and crc16_ccitt(body) == 0 and body[0] == Frame.CMD:
            p = body[2:-2]
            if p and len(p) % CB == 0 and len(p) <= MAX_WORDS * CB:
                frame = [int.from_bytes(p[i : i + CB], "little") for i in range(0, len(p), CB)]
                # a bit above a word's width refuses the whole frame (NAK WIDTH)
                if not any(w >> CMDS.layout.width for w in frame):
                    words |= set(frame)
    return words


def check_bridge(frames):
    from amaranth.sim import Simulator

    dut = _dut_factory()()
    ping = build_frame(Frame.PING, 0x5A)
    # Each frame is followed by idle time for the bridge's answer (a byte that arrives while
    # it answers drops the frame it belongs to: the host would retransmit). An END closes
    # whatever the garbage left open before the PING.
    chunks = [*frames, bytes([SLIP_END]), ping]
    settle = 120
    tx, cmds = bytearray(), []
    cycles = sum(len(c) * 4 + settle for c in chunks) + 400

    async def feed(ctx):
        await ctx.tick().repeat(2)
        for chunk in chunks:
            for b in chunk:
                ctx.set(dut.i_rx.payload, b)
                ctx.set(dut.i_rx.valid, 1)
                await ctx.tick()
                ctx.set(dut.i_rx.valid, 0)
                await ctx.tick().repeat(3)
            await ctx.tick().repeat(settle)

    async def monitor(ctx):
        ctx.set(dut.o_tx.ready, 1)
        ctx.set(dut.o_cmd.ready, 1)
        for _ in range(cycles):
            _, _, tv, tp, cv, cp = await ctx.tick().sample(
                dut.o_tx.valid, dut.o_tx.payload, dut.o_cmd.valid, dut.o_cmd.payload.as_value()
            )
            if tv:
                tx.append(tp)
            if cv:
                cmds.append(cp)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(feed)
    sim.add_testbench(monitor)
    sim.run()
    bodies = SlipDecoder().feed(bytes(tx))
    assert all(b is not None and crc16_ccitt(b) == 0 for b in bodies), f"malformed frame {bodies}"
    assert bodies and bodies[-1][0] == Frame.INFO and bodies[-1][1] == 0x5A, (
        f"the final PING got {bodies[-1:]!r}: the bridge is wedged"
    )
    stray = [w for w in cmds if w not in _good_words(frames)]
    assert not stray, f"words from no good CMD frame reached the chip: {stray}"
    return SpikemeshError("refused") if not cmds else None


TARGETS = [
    Target("rtl-hostbridge", streams, check_bridge, ci_examples=15, long_examples=300, timeout=120)
]
