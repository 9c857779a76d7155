"""Plastic networks on the command line and in YAML: `run --out` saves the learned weights
per projection, golden and tlm agree, a backend without learning refuses by name, and bad
`plasticity:` entries are errors at their key path."""

import numpy as np
import pytest

from spikemesh import cli
from spikemesh.errors import NetworkError
from spikemesh.golden import Result
from spikemesh.netfile import dump_network, load_network

PLASTIC = """\
name: plastic
populations:
  - {name: out, size: 4, du: 4095, dv: 4095, vth: 50}
sources:
  - {name: in, size: 6, bernoulli: 0.3, seed: 2}
projections:
  - pre: in
    post: out
    weight: 30
    plasticity: {a_plus: 20, a_plus_shift: 3, a_minus: 12, a_minus_shift: 3, w_min: -10,
                 w_max: 90}
  - {pre: out, post: out, weight: -5}
"""


@pytest.fixture
def plastic(tmp_path):
    p = tmp_path / "plastic.yaml"
    p.write_text(PLASTIC)
    return p


def test_run_out_saves_learned_weights_and_tlm_equals_golden(tmp_path, plastic, capsys):
    outs = {}
    for b in ("golden", "tlm"):
        out = tmp_path / f"{b}.npz"
        assert cli.main(["run", str(plastic), "-t", "80", "-b", b, "--out", str(out)]) == 0
        outs[b] = Result.load(out)
        with np.load(out) as f:
            assert {"weights_0", "weights_1", "weight_labels", "pre_trace"} <= set(f.files)
    capsys.readouterr()
    g, t = outs["golden"], outs["tlm"]
    assert g.diff(t) == []
    assert g.extra["weight_labels"] == ["0:in->out", "1:out->out"]
    w = g.extra["weights"][0]
    assert w.shape == (24,) and (w != 30).any() and w.min() >= -10 and w.max() <= 90
    assert (g.extra["weights"][1] == -5).all()  # the fixed projection stays put


def test_a_backend_without_learning_refuses_a_plastic_network(plastic, capsys, monkeypatch):
    """Every backend learns now (board since firmware/board_learned.py); one added without
    learning is refused by name."""
    from spikemesh import backends

    monkeypatch.setitem(backends.BACKENDS, "nolearn", backends.BACKENDS["golden"])
    assert cli.main(["run", str(plastic), "-t", "5", "-b", "nolearn"]) != 0
    err = capsys.readouterr().err
    assert "backend 'nolearn' cannot run a plastic network" in err
    assert "plasticity runs on golden, tlm, tlm-cycle, tlm-timed, rtl, board so far" in err


@pytest.mark.parametrize("backend", ["tlm-cycle", "tlm-timed"])
def test_chip_models_learn_what_golden_learns(tmp_path, plastic, backend, capsys):
    """-b tlm-cycle and -b tlm-timed: the image on a chip of learning cores
    (firmware/learned.py), loaded, run, flushed and read back over the host link: golden's
    spikes, u/v and --out weights."""
    outs = {}
    for b in ("golden", backend):
        out = tmp_path / f"{b}.npz"
        assert cli.main(["run", str(plastic), "-t", "40", "-b", b, "--out", str(out)]) == 0
        outs[b] = Result.load(out)
    capsys.readouterr()
    g, c = outs["golden"], outs[backend]
    assert g.diff(c) == []
    assert (g.extra["weights"][0] != 30).any()
    for key in ("pre_trace", "post_trace"):
        assert np.array_equal(g.extra[key], c.extra[key])


def test_compile_writes_a_learning_image(tmp_path, plastic, capsys):
    img = tmp_path / "p.img"
    assert cli.main(["compile", str(plastic), "-o", str(img)]) == 0
    capsys.readouterr()
    from spikemesh.firmware.image import LEARNING_VERSION, ChipImage

    image = ChipImage.load(img)
    assert image.learning is not None
    assert int.from_bytes(img.read_bytes()[8:12], "little") == LEARNING_VERSION
    with pytest.raises(Exception, match="backend 'rtl' cannot run an image with learning"):
        image.refuse_learning("rtl")


def test_dump_and_load_keep_the_profile():
    net = load_network(PLASTIC)
    again = load_network(dump_network(net))
    assert again.projections[0].plasticity == net.projections[0].plasticity
    assert again.projections[1].plasticity is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{a_plus: 128}",
            "projections[0].plasticity.a_plus (line 10): plasticity a_plus must be "
            "between 0 and 127, not 128",
        ),
        (
            "{pre_decay: -1}",
            "projections[0].plasticity.pre_decay (line 10): plasticity pre_decay "
            "must be between 0 and 255, not -1",
        ),
        ("{tau: 3}", "projections[0].plasticity.tau (line 10): unknown plasticity key(s) tau"),
        (
            "{rule: hebb}",
            "projections[0].plasticity.rule (line 10): plasticity rule must be one "
            "of stdp, not 'hebb'",
        ),
        (
            "{w_min: 40, w_max: 50}",
            "projections[0].plasticity.w_min (line 10): weight[0] = 30 "
            "is outside the plasticity bounds w_min..w_max = 40..50",
        ),
        (
            "{w_min: 5, w_max: 4}",
            "projections[0].plasticity.w_max (line 10): plasticity w_max (4) must be >= w_min (5)",
        ),
        (
            "{a_plus_shift: 1.5}",
            "projections[0].plasticity.a_plus_shift (line 10): plasticity "
            "a_plus_shift must be an integer, not 1.5",
        ),
        ("3", "projections[0].plasticity (line 10): plasticity must be a mapping"),
    ],
)
def test_bad_plasticity_names_the_key_path(entry, message):
    text = PLASTIC.replace(
        "plasticity: {a_plus: 20, a_plus_shift: 3, a_minus: 12, a_minus_shift: 3, w_min: -10,\n"
        "                 w_max: 90}",
        f"plasticity: {entry}",
    )
    with pytest.raises(NetworkError) as e:
        load_network(text)
    assert message in str(e.value)


def test_shared_trace_parameters_are_required():
    text = PLASTIC.replace(
        "  - {pre: out, post: out, weight: -5}",
        "  - {pre: in, post: out, weight: 3, plasticity: {pre_decay: 100}}",
    )
    with pytest.raises(NetworkError, match=r"projections\[1\]\.plasticity\.pre_decay \(line 12\)"):
        load_network(text)
