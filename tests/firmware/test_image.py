import struct

import pytest
from spikemesh.firmware import IMAGE_VERSION, ChipImage, compile_network

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import ImageError

from .random_nets import random_network

CHIP = ChipConfig(
    width=2, height=2, core=CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024)
)


@pytest.fixture
def image():
    return compile_network(random_network(5, max_neurons=60), CHIP)[0]


def test_round_trip_file(image, tmp_path):
    p = tmp_path / "net.img"
    image.save(p)
    assert ChipImage.load(p) == image


def test_corrupted_payload_refused(image):
    data = bytearray(image.to_bytes())
    data[-10] ^= 0x01
    with pytest.raises(ImageError, match=r"image is corrupted \(SHA-256 checksum mismatch\)"):
        ChipImage.from_bytes(bytes(data))


def test_wrong_version_refused(image):
    data = bytearray(image.to_bytes())
    struct.pack_into("<I", data, 8, IMAGE_VERSION + 1)
    with pytest.raises(
        ImageError,
        match=rf"image format version {IMAGE_VERSION + 1}; this spikemesh "
        rf"reads version {IMAGE_VERSION}",
    ):
        ChipImage.from_bytes(bytes(data))


def test_bad_magic_refused():
    with pytest.raises(ImageError, match="not a spikemesh image"):
        ChipImage.from_bytes(b"GIF89a" + bytes(100))


def test_truncated_refused(image):
    data = image.to_bytes()
    with pytest.raises(ImageError, match="image is truncated or padded"):
        ChipImage.from_bytes(data[:-5])
    with pytest.raises(ImageError, match="too short for a spikemesh image header"):
        ChipImage.from_bytes(data[:10])


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        ChipImage.load(tmp_path / "nope.img")


def test_image_inconsistent_with_chip_refused(image):
    image.cores[1].syn_target[0] = 99  # the core has 16 neurons
    with pytest.raises(ImageError, match=r"core \(1,0\): syn_target holds .*the field holds 0..15"):
        image.check()
