"""Fuzz targets: what the host decodes from a board (firmware/uart_loader.py, loader.decode_run).

A hostile bridge answers each frame the host writes with bytes of the fuzzer's choosing:
garbage, SLIP frames with bad escapes, and well-formed frames (good CRC) of any type,
sequence number and payload, including INFO frames with impossible sizes and RSP frames
whose words have bits set above the response word. The host must end every session with
a :class:`~spikemesh.firmware.uart_loader.HostLinkError` or a correct result.
"""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import strategies as st
from spikemesh.firmware.loader import decode_run
from spikemesh.firmware.uart_loader import BridgeModel, HostLinkUART, loopback_chip

from spikemesh.config import ChipConfig
from spikemesh.hostlink import (
    FRAME_VERSION,
    INFO_FIELDS,
    Frame,
    HostCommands,
    Rsp,
    StatusReg,
    build_frame,
    response_layout,
    slip_encode,
    word_bytes,
)

from .harness import Target, expect_clean

CHIP = ChipConfig(width=2, height=2)
CMDS = HostCommands(CHIP, 32)
CMD_BYTES = word_bytes(CMDS.layout)
RSP_BYTES = word_bytes(response_layout())

frame_types = st.one_of(st.sampled_from([int(f) for f in Frame]), st.integers(0, 255))


@st.composite
def info_payload(draw):
    good = {
        "version": FRAME_VERSION,
        "cmd_bytes": CMD_BYTES,
        "rsp_bytes": RSP_BYTES,
        "max_words": 16,
        "rsp_batch": 8,
        "naks": 0,
        "drops": 0,
        "rx_errors": 0,
    }
    for key in draw(st.lists(st.sampled_from(INFO_FIELDS), max_size=3)):
        good[key] = draw(st.integers(0, 255))
    body = bytes(good[k] for k in INFO_FIELDS)
    if draw(st.booleans()):
        return body
    return draw(st.sampled_from([body[:-1], body + b"\0", b""]))


@st.composite
def rsp_payload(draw):
    n = draw(st.integers(0, 9))
    words = b""
    for _ in range(n):
        op = draw(st.one_of(st.sampled_from([int(r) for r in Rsp]), st.integers(0, 15)))
        a, b = draw(st.integers(0, (1 << 32) - 1)), draw(st.integers(0, (1 << 48) - 1))
        word = (op << 80) | (a << 48) | b
        if draw(st.integers(0, 9)) == 0:
            word |= draw(st.integers(1, 15)) << 84  # padding bits above the response word
        words += word.to_bytes(RSP_BYTES, "little")
    if draw(st.integers(0, 9)) == 0:
        words += draw(st.binary(min_size=1, max_size=RSP_BYTES - 1))
    return words


@st.composite
def answers(draw):
    """What the hostile bridge sends after one host frame (seq: None = the host's own)."""
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["ack", "nak", "info", "rsp", "frame", "garbage", "slip"]))
        seq = draw(st.one_of(st.none(), st.integers(0, 255)))
        if kind == "ack":
            parts.append(("frame", int(Frame.ACK), seq, b""))
        elif kind == "nak":
            parts.append(("frame", int(Frame.NAK), seq, draw(st.binary(max_size=2))))
        elif kind == "info":
            parts.append(("frame", int(Frame.INFO), seq, draw(info_payload())))
        elif kind == "rsp":
            parts.append(("frame", int(Frame.RSP), draw(st.integers(0, 255)), draw(rsp_payload())))
        elif kind == "frame":
            parts.append(("frame", draw(frame_types), seq, draw(st.binary(max_size=24))))
        elif kind == "slip":
            parts.append(("raw", slip_encode(draw(st.binary(max_size=12)))))
        else:
            parts.append(("raw", draw(st.binary(max_size=24))))
    return parts


class HostileBridge:
    """A transport that answers the n-th frame written with ``script[n]`` (then a real bridge).

    A ``None`` entry lets the real bridge answer that frame.

    Frames after the script are answered by the Python twin of the bridge, so a session that
    survives the damage can finish and its result be checked.
    """

    empty_read_is_timeout = True

    def __init__(self, script):
        self.script = list(script)
        self.model = BridgeModel(
            loopback_chip(CMDS), cmd_bytes=CMD_BYTES, cmd_width=CMDS.layout.width, max_words=4
        )
        self.out = bytearray()
        self.writes = 0

    def write(self, data: bytes) -> int:
        body = data[1:-1]
        seq = body[1] if len(body) > 1 else 0
        if self.writes < len(self.script) and self.script[self.writes] is not None:
            for part in self.script[self.writes]:
                if part[0] == "raw":
                    self.out += part[1]
                else:
                    _, ftype, s, payload = part
                    self.out += build_frame(ftype, seq if s is None else s, payload)
        else:
            self.model.write(data)
            self.out += self.model.read(1 << 20)
        self.writes += 1
        return len(data)

    def read(self, n: int = 1) -> bytes:
        out, self.out = bytes(self.out[:n]), self.out[n:]
        return out


sessions = st.tuples(
    st.lists(st.one_of(st.none(), answers()), max_size=8),
    st.lists(
        st.sampled_from(["send", "poll", "status", "state", "ticks", "ping"]),
        min_size=1,
        max_size=4,
    ),
)


def _session(script, actions):
    link = HostLinkUART(HostileBridge(script), CMDS, retries=2, timeout=0.0)
    for action in actions:
        if action == "send":
            link.write_config([((1, 1), 5, 7), ((0, 1), 2, 3)])
        elif action == "poll":
            link.poll()
        elif action == "status":
            assert isinstance(link.read_status(StatusReg.TICK), int)
        elif action == "state":
            link.read_state((1, 0), 3)
        elif action == "ticks":
            ticks = link.run_ticks([[((0, 0), 3)], []])
            assert len(ticks) == 2
        else:
            link.ping()


def check_session(inp):
    return expect_clean(_session, *inp)


# --- decode_run on hostile response streams ------------------------------------------------


@functools.cache
def _image():
    from spikemesh.firmware.image import ChipImage

    from .targets_image import base_image

    return ChipImage.from_bytes(base_image())


@st.composite
def response_streams(draw):
    img = _image()
    ticks = draw(st.integers(0, 4))
    rows = []
    for t in range(ticks):
        for _ in range(draw(st.integers(0, 3))):
            slot = int(draw(st.sampled_from([*img.neuron_slot.tolist(), 0, img.chip.neurons - 1])))
            tile, neuron = divmod(slot, img.chip.core.neurons)
            x, y = tile % img.chip.width, tile // img.chip.width
            b = (
                (x << (img.chip.y_bits + img.chip.core.neuron_bits))
                | (y << img.chip.core.neuron_bits)
                | neuron
            )
            rows.append((int(Rsp.SPIKE), t, b))
        rows.append((int(Rsp.TICK_DONE), t, draw(st.integers(0, 1000))))
    for _ in range(draw(st.integers(0, 4))):  # damage: any op, any field value
        k = draw(st.integers(0, len(rows)))
        rows.insert(
            k,
            (
                draw(st.integers(0, 15)),
                draw(st.integers(0, (1 << 32) - 1)),
                draw(st.integers(0, (1 << 48) - 1)),
            ),
        )
    if rows and draw(st.booleans()):
        del rows[draw(st.integers(0, len(rows) - 1))]
    return ticks, rows


def check_decode(inp):
    ticks, rows = inp
    img = _image()
    inputs = np.zeros((ticks, img.num_sources), dtype=bool)
    return expect_clean(decode_run, img, rows, ticks, inputs)


# --- board_runner.check_board against a chip that answers anything --------------------------


response_words = st.builds(
    lambda op, a, b: (op << 80) | (a << 48) | b,
    st.one_of(st.sampled_from([int(r) for r in Rsp]), st.integers(0, 15)),
    st.one_of(st.integers(0, 8), st.integers(0, (1 << 32) - 1)),
    st.one_of(st.integers(0, 8), st.integers(0, (1 << 48) - 1)),
)
board_scripts = st.lists(st.lists(response_words, max_size=3), max_size=30)


def _check_board(script):
    from spikemesh.firmware.board_runner import check_board

    from spikemesh.layouts import config_data_bits

    chip = CHIP
    cmds = HostCommands(chip, config_data_bits(chip))
    answers = list(script)

    def chip_model(word):  # the k-th command word gets the k-th list of response words
        return answers.pop(0) if answers else []

    bridge = BridgeModel(
        chip_model, cmd_bytes=word_bytes(cmds.layout), cmd_width=cmds.layout.width, max_words=16
    )
    link = HostLinkUART(bridge, cmds, retries=2, timeout=0.0)
    return check_board(link, chip)


def check_board_answers(script):
    return expect_clean(_check_board, script)


TARGETS = [
    Target("uart-host", sessions, check_session, ci_examples=150, timeout=10),
    Target("decode-run", response_streams(), check_decode, ci_examples=100),
    Target("board-check", board_scripts, check_board_answers, ci_examples=60, timeout=10),
]
