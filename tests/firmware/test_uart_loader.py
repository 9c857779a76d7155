"""HostLinkUART against the Python twin of the bridge, with injected corruption and loss."""

import pytest
from spikemesh.firmware.uart_loader import (
    BridgeModel,
    FaultyLink,
    HostLinkError,
    HostLinkTimeout,
    HostLinkUART,
    ResponseLost,
    loopback_chip,
)

from spikemesh.config import ChipConfig
from spikemesh.hostlink import (
    Cmd,
    Frame,
    HostCommands,
    Rsp,
    SlipDecoder,
    StatusReg,
    build_frame,
    crc16_ccitt,
    slip_encode,
    word_bytes,
)

CHIP = ChipConfig(width=2, height=2)


def make(faults=None, rate=0.0, seed=0, **kwargs):
    cmds = HostCommands(CHIP, 32)
    model = BridgeModel(
        loopback_chip(cmds),
        cmd_bytes=word_bytes(cmds.layout),
        cmd_width=cmds.layout.width,
        max_words=4,
    )
    link = FaultyLink(model, faults=faults, rate=rate, seed=seed)
    host = HostLinkUART(link, cmds, timeout=0.01, **kwargs)
    return host, model, link, cmds


def test_crc_and_slip_known_values():
    assert crc16_ccitt(b"123456789") == 0x29B1
    body = bytes([1, 2, 0xC0, 0xDB, 3])
    wire = slip_encode(body)
    assert wire == bytes([0xC0, 1, 2, 0xDB, 0xDC, 0xDB, 0xDD, 3, 0xC0])
    assert SlipDecoder().feed(b"\xc0\xc0" + wire[1:]) == [body]
    assert SlipDecoder().feed(b"\xc0\xdb\x01\xc0") == [None]


def test_frames_round_trip_and_check():
    frame = build_frame(Frame.CMD, 7, bytes(range(9)))
    (body,) = SlipDecoder().feed(frame)
    assert crc16_ccitt(body) == 0 and body[:2] == bytes([Frame.CMD, 7])


def test_words_applied_once_in_order_and_batched():
    host, model, _link, cmds = make()
    writes = [((i % 2, i // 2 % 2), i, 0xDEAD0000 + i) for i in range(10)]
    host.write_config(writes)
    assert model.applied == [cmds.config_write(*w) for w in writes]
    assert host.stats["frames_out"] == 2 + 3  # SYNC, PING, then 10 words in frames of 4
    assert host.info["cmd_bytes"] == word_bytes(cmds.layout)


def test_responses_and_status():
    host, model, _link, _cmds = make()
    ticks = host.run_ticks([[((0, 0), 3), ((1, 1), 5)], [], [((0, 1), 9)]])
    assert [t["tick"] for t in ticks] == [0, 1, 2]
    assert [[s["b"] for s in t["spikes"]] for t in ticks] == [[3, 5], [], [9]]
    assert host.read_status(StatusReg.HOST_IN) == len(model.applied) - 1
    assert host.read_state((1, 0), 4) == (0, 0)


@pytest.mark.parametrize("fault", ["corrupt", "drop", "drop_reply", "corrupt_reply"])
def test_fault_is_retried_never_applied_twice(fault):
    # write 0 = SYNC, 1 = PING, 2 = the first CMD frame
    host, model, link, cmds = make(faults={2: fault})
    host.write_config([((0, 0), a, a) for a in range(4)])
    assert model.applied == [cmds.config_write((0, 0), a, a) for a in range(4)]
    assert host.stats["retransmits"] == 1
    assert link.log == [(2, fault)]
    if fault == "corrupt":
        assert host.stats["naks"] == 1 and model.counters["naks"] == 1
    else:
        assert host.stats["timeouts"] == 1


def test_random_faults_seeded():
    seed = 1234
    print(f"seed {seed}")
    host, model, _link, cmds = make(rate=0.3, seed=seed, strict=False)
    words = [cmds.config_write((1, 1), a, a * 3) for a in range(200)]
    host.send_words(words)
    assert model.applied == words
    assert host.stats["retransmits"] > 10


def test_gives_up_with_clear_error():
    host, model, link, cmds = make(retries=3)
    link.faults = dict.fromkeys(range(link.writes, link.writes + 3), "drop")
    with pytest.raises(
        HostLinkTimeout,
        match=r"CMD frame seq \d+ was not acknowledged after 3 "
        r"attempts \(timeout, timeout, timeout\)",
    ):
        host.send_words([cmds.end_tick()])
    assert model.applied == []


def test_nak_reasons_in_error():
    host, _model, link, _cmds = make(retries=2)
    link.faults = {link.writes: "corrupt", link.writes + 1: "corrupt"}
    with pytest.raises(HostLinkTimeout, match=r"\(NAK \w+, NAK \w+\)"):
        host.end_tick()


def test_lost_response_is_reported():
    host, model, link, cmds = make()
    host.send_inputs([((0, 0), 1)])
    link.faults = {link.writes: "drop_reply"}  # the RSP frame for this spike and its ACK
    host.send_inputs([((0, 0), 2)])  # retransmitted; the duplicate is not applied again
    host.send_inputs([((0, 0), 3)])
    with pytest.raises(ResponseLost, match="1 response frame"):
        host.poll()
    assert [r["b"] for r in host.poll()] == [1, 3]
    assert sum(1 for w in model.applied if cmds.decode(w)["op"] == Cmd.INPUT) == 3


def test_bad_nak_types_from_model():
    cmds = HostCommands(CHIP, 32)
    model = BridgeModel(loopback_chip(cmds), cmd_bytes=word_bytes(cmds.layout), max_words=2)
    model.write(build_frame(Frame.CMD, 1, bytes(5)))
    model.write(build_frame(Frame.CMD, 2, bytes(27)))
    model.write(build_frame(0x55, 3))
    bodies = SlipDecoder().feed(model.read(1000))
    assert [(b[0], b[2]) for b in bodies] == [(Frame.NAK, 2), (Frame.NAK, 3), (Frame.NAK, 4)]


def test_mismatched_bridge_refused():
    cmds = HostCommands(CHIP, 32)
    model = BridgeModel(loopback_chip(cmds), cmd_bytes=word_bytes(cmds.layout) + 1)
    with pytest.raises(HostLinkError, match="cmd_bytes is 10 on the board but 9 here"):
        HostLinkUART(model, cmds)


def test_words_wider_than_the_bridge_are_refused_at_once():
    # A host for the 4x4 chip (72-bit command words) on a board built for the 2x2 chip
    # (70 bits): both take 9 bytes, so INFO cannot tell them apart. A RUN word sets op's
    # bit 2 = bit 70: the bridge answers NAK WIDTH, nothing reaches the chip, and the host
    # raises at once (a retransmission would get the same answer) naming the cause.
    small, big = HostCommands(CHIP, 32), HostCommands(ChipConfig(width=4, height=4), 32)
    assert word_bytes(small.layout) == word_bytes(big.layout) and big.layout.width == 72
    model = BridgeModel(
        loopback_chip(small), cmd_bytes=word_bytes(small.layout), cmd_width=small.layout.width
    )
    host = HostLinkUART(model, big, timeout=0.01)
    with pytest.raises(HostLinkError, match=r"NAK WIDTH.*72-bit words.*another chip config"):
        host.send_words([big.run(2)])
    assert model.applied == [] and host.stats["retransmits"] == 0
    assert host.stats["naks"] == 1 and model.counters["naks"] == 1


def test_model_refuses_its_own_impossible_configs():
    cmds = HostCommands(CHIP, 32)
    with pytest.raises(ValueError, match="cmd_width 80 does not take 9 bytes"):
        BridgeModel(loopback_chip(cmds), cmd_bytes=9, cmd_width=80)
    # a chip stand-in answering with a word wider than the response layout is a test bug
    model = BridgeModel(lambda w: [1 << 90], cmd_bytes=9, cmd_width=70)
    with pytest.raises(ValueError, match="does not fit 84 bits"):
        model.write(build_frame(Frame.CMD, 1, bytes(9)))


def test_wait_for_times_out():
    host, _model, _link, _cmds = make()
    with pytest.raises(HostLinkError, match="No TICK_DONE response"):
        host.wait_for(Rsp.TICK_DONE, timeout=0.01)


def test_exchange_collects_tuples():
    host, _model, _link, cmds = make()
    words = [cmds.run(2), cmds.input((0, 0), 4), cmds.end_tick(), cmds.end_tick()]
    out = host.exchange(words, until=lambda rs: sum(r[0] == Rsp.TICK_DONE for r in rs) == 2)
    assert out == [(Rsp.SPIKE, 0, 4), (Rsp.TICK_DONE, 0, 2), (Rsp.TICK_DONE, 1, 3)]
    with pytest.raises(HostLinkError, match=r"incomplete after 0.01 s \(1 received\)"):
        host.exchange([cmds.end_tick()], until=lambda rs: len(rs) == 2, timeout=0.01)


def test_seq_wraps_after_many_frames():
    # CMD, 255 PINGs, CMD: the second CMD has the first one's seq again and is
    # still applied, because the PINGs' seqs took its place as "the last one"
    host, model, _link, cmds = make()
    host.send_words([cmds.input((0, 0), 1)])
    for _ in range(255):
        host.ping()
    host.send_words([cmds.input((0, 0), 2)])
    assert len(model.applied) == 2
