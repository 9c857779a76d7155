"""Minimal inputs the fuzzers found, each with the clear error it now gets (docs/testing.md)."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile

import numpy as np
import pytest

from spikemesh.errors import NetworkError
from spikemesh.netfile import MAX_ALIAS_EXPANSION, load_network

# --- network YAML (spikemesh/netfile.py) -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]\n",
        "populations: &a [*a]\n",
        "populations:\n - {name: a, size: 3, u0: &x [1, *x]}\n",
    ],
)
def test_netfile_recursive_alias(text):
    # was: RecursionError from the line-number walk
    with pytest.raises(NetworkError, match="an alias refers to a node that contains it"):
        load_network(text)


def test_netfile_alias_bomb():
    # was: 9 levels of 9 aliases walked 9**9 nodes (minutes); now refused at once
    levels = ["&a0 [1, 2]"] + [
        f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)
    ]
    text = "populations:\n  - {name: p, size: 4, u0: [" + ", ".join(levels) + "]}\n"
    t0 = time.perf_counter()
    with pytest.raises(NetworkError, match=f"at most {MAX_ALIAS_EXPANSION:,} more are allowed"):
        load_network(text)
    assert time.perf_counter() - t0 < 2


def test_netfile_shared_alias_still_loads():
    net = load_network("populations:\n  - &p {name: a, size: 3}\n  - {name: b, size: 3}\n")
    assert net.num_neurons == 6


@pytest.mark.parametrize("text", ["x" * 5000, "[" * 5000, "a\x00b.yaml"])
def test_netfile_one_line_text_that_is_no_path(text):
    # was: OSError (file name too long) / ValueError (NUL byte) from Path.is_file
    with pytest.raises(NetworkError):
        load_network(text)


def test_netfile_lone_surrogate():
    # was: UnicodeEncodeError from libyaml
    with pytest.raises(NetworkError, match="not valid YAML text"):
        load_network("name: \udcff\n")


# --- chip image files (firmware/image.py) -----------------------------------------------------


def _image_arrays():
    from .targets_image import base_arrays

    return dict(base_arrays())


def test_image_float_table():
    # was: ValueError (cannot convert float NaN to integer) from the range check
    from spikemesh.firmware.image import ChipImage

    from spikemesh.errors import ImageError

    from .targets_image import pack

    arrays = _image_arrays()
    arrays["core0.axon_exp"] = np.full(arrays["core0.axon_exp"].shape, np.nan)
    with pytest.raises(ImageError, match=r"table core0\.axon_exp holds float64 values"):
        ChipImage.from_bytes(pack(arrays))


def test_image_population_names_not_a_list():
    # was: loaded, and saved back as ['a', 'b'] (a different image)
    from spikemesh.firmware.image import ChipImage

    from spikemesh.errors import ImageError

    from .targets_image import pack

    arrays = _image_arrays()
    meta = json.loads(arrays["meta"].tobytes().decode())
    meta["population_names"] = "ab"
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with pytest.raises(ImageError, match="population_names must be a list of names"):
        ChipImage.from_bytes(pack(arrays))


def test_image_two_neurons_on_one_slot():
    # was: loaded; decode_run then attributed both neurons' spikes to one
    from spikemesh.firmware.image import ChipImage

    from spikemesh.errors import ImageError

    from .targets_image import pack

    arrays = _image_arrays()
    arrays["neuron_slot"] = arrays["neuron_slot"].copy()
    arrays["neuron_slot"][1] = arrays["neuron_slot"][0]
    with pytest.raises(ImageError, match="two neurons on one slot"):
        ChipImage.from_bytes(pack(arrays))


def test_image_huge_table_is_refused_before_reading():
    # was: MemoryError (numpy allocates the 2**40 elements a .npy header claims)
    from spikemesh.firmware.image import _HEADER, IMAGE_VERSION, MAGIC, ChipImage

    from spikemesh.errors import ImageError

    from .targets_image import pack

    payload = bytearray(pack(_image_arrays())[_HEADER.size :])
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bytes(payload))) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "neuron_slot.npy":
                head = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    head, {"descr": "<i8", "fortran_order": False, "shape": (1 << 40,)}
                )
                data = head.getvalue() + b"\0" * 64
            dst.writestr(info.filename, data)
    payload = buf.getvalue()
    header = _HEADER.pack(MAGIC, IMAGE_VERSION, len(payload), hashlib.sha256(payload).digest())
    with pytest.raises(ImageError, match="table neuron_slot has 1,099,511,627,776 elements"):
        ChipImage.from_bytes(header + payload)


# --- host side of the UART link (firmware/uart_loader.py) --------------------------------------


def test_uart_rsp_word_with_bits_above_the_word():
    # was: ValueError from word_from_bytes; now the frame counts as lost (ResponseLost)
    from spikemesh.firmware.uart_loader import HostLinkUART, ResponseLost

    from .targets_hostlink import CMDS, HostileBridge

    script = [None, None, [("frame", 0x83, 0, b"\0" * 10 + b"\x10")]]  # SYNC, PING, the CMD
    link = HostLinkUART(HostileBridge(script), CMDS, retries=2, timeout=0.0)
    with pytest.raises(ResponseLost, match="1 response frame"):
        link.write_config([((1, 1), 5, 7)])
        link.poll()


def test_uart_info_with_max_words_zero():
    # was: ValueError (range() arg 3 must not be zero) on the first send_words
    from spikemesh.firmware.uart_loader import HostLinkError, HostLinkUART

    from spikemesh.hostlink import INFO_FIELDS

    from .targets_hostlink import CMD_BYTES, CMDS, RSP_BYTES, HostileBridge

    info = dict.fromkeys(INFO_FIELDS, 0) | {"version": 1, "cmd_bytes": CMD_BYTES}
    info["rsp_bytes"] = RSP_BYTES
    script = [[("frame", 0x81, None, b"")], [("frame", 0x84, None, bytes(info.values()))]]
    with pytest.raises(HostLinkError, match="max_words = 0"):
        HostLinkUART(HostileBridge(script), CMDS, retries=2, timeout=0.0)


# --- run length (spikemesh/network.py) ----------------------------------------------------------


def test_input_raster_too_big_for_memory():
    # was: numpy's _ArrayMemoryError traceback from `spikemesh run NET --ticks 100000000000`
    from spikemesh.netfile import load_network

    net = load_network("sources: [{name: s, size: 30, spikes: [[0, 1]]}]\n")
    with pytest.raises(NetworkError, match="100,000,000,000 ticks of 30 inputs take"):
        net.input_raster(100_000_000_000)
    with pytest.raises(NetworkError, match="ticks must be between 0 and"):
        net.input_raster(-1)


def test_projection_too_big_for_memory():
    # was: numpy's MemoryError from np.repeat (2**44 synapses: 2**24 inputs x fanout 2**20)
    from spikemesh.network import Network

    net = Network()
    net.source("s", 1 << 24, spikes=[])
    net.population("a", 1 << 20)
    with pytest.raises(NetworkError, match="projection 's' -> 'a' needs more memory"):
        net.connect("s", "a", connectivity="fixed_fanout", fanout=1 << 20, seed=1, weight=1)
