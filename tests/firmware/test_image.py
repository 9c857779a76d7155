import struct

import pytest
from spikemesh.firmware import IMAGE_VERSION, ChipImage, compile_network
from spikemesh.firmware.image import LEARNING_VERSION

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
    # Version 5 (IMAGE_VERSION + 1) is the learning version, so the first unknown one is 6.
    data = bytearray(image.to_bytes())
    struct.pack_into("<I", data, 8, LEARNING_VERSION + 1)
    with pytest.raises(
        ImageError,
        match=rf"image format version {LEARNING_VERSION + 1}; this spikemesh "
        rf"reads versions {IMAGE_VERSION} and {LEARNING_VERSION}",
    ):
        ChipImage.from_bytes(bytes(data))


def test_learning_version_without_learning_tables_refused(image):
    data = bytearray(image.to_bytes())
    struct.pack_into("<I", data, 8, LEARNING_VERSION)
    with pytest.raises(ImageError, match=r"image payload has no table core0\.learn_profiles"):
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


def _repack(image, version, *, columns):
    """``image``'s bytes with every core's profile table cut to ``columns`` columns and the
    header's version set to ``version`` (a file written before reset modes)."""
    import hashlib
    import io

    import numpy as np
    from spikemesh.firmware.image import _HEADER, MAGIC

    data = image.to_bytes()
    with np.load(io.BytesIO(data[_HEADER.size :]), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k in arrays:
        if k.endswith(".profiles"):
            arrays[k] = arrays[k][:, :columns]
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    payload = buf.getvalue()
    return _HEADER.pack(MAGIC, version, len(payload), hashlib.sha256(payload).digest()) + payload


def test_version_2_image_loads_with_zero_reset(image):
    # Images written before reset modes have 6-column profiles: they load as reset = zero.
    assert all((c.profiles[:, 6] == 0).all() for c in image.cores)
    old = ChipImage.from_bytes(_repack(image, 2, columns=6))
    assert old == image
    assert all(c.profiles.shape[1] == 7 for c in old.cores)


def test_version_3_image_without_reset_column_refused(image):
    with pytest.raises(ImageError, match=r"profiles has shape \(\d+, 6\), expected \(P, 7\)"):
        ChipImage.from_bytes(_repack(image, IMAGE_VERSION, columns=6))


def test_reset_column_outside_its_field_refused(image):
    image.cores[0].profiles[0, 6] = 2
    with pytest.raises(ImageError, match=r"profile column reset outside 0..1"):
        image.check()


def _drop_delays(image, version):
    """``image``'s bytes without the axon_delay tables, header version ``version`` (a file
    written before synaptic delays)."""
    import hashlib
    import io

    import numpy as np
    from spikemesh.firmware.image import _HEADER, MAGIC

    data = image.to_bytes()
    with np.load(io.BytesIO(data[_HEADER.size :]), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if not k.endswith(".axon_delay")}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    payload = buf.getvalue()
    return _HEADER.pack(MAGIC, version, len(payload), hashlib.sha256(payload).digest()) + payload


def test_version_3_image_loads_with_delays_of_1(image):
    old = ChipImage.from_bytes(_drop_delays(image, 3))
    assert old == image
    assert all((c.axon_delay == 1).all() for c in old.cores)
    with pytest.raises(ImageError):  # version 4 must carry them
        ChipImage.from_bytes(_drop_delays(image, IMAGE_VERSION))


def test_delays_round_trip_and_are_checked_against_the_chip(tmp_path):
    chip = ChipConfig(
        width=2,
        height=2,
        core=CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, max_delay=7),
    )
    img = compile_network(random_network(5, max_neurons=60, max_delay=7), chip)[0]
    assert max(int(c.axon_delay.max()) for c in img.cores) > 1
    back = ChipImage.from_bytes(img.to_bytes())
    assert back == img
    img.cores[0].axon_delay[0] = 8
    with pytest.raises(ImageError, match=r"axon_delay holds 1..8, the core's delays are 1..7"):
        img.check()
    img.cores[0].axon_delay[0] = 0
    with pytest.raises(ImageError, match=r"axon_delay holds 0..\d+, the core's delays are 1..7"):
        img.check()
