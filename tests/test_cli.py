"""The ``spikemesh`` command line: run summary, output files, backends, errors."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikemesh import cli
from spikemesh.golden import NPZ_KEYS, Result, run_golden
from spikemesh.netfile import load_network

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SYNFIRE = str(EXAMPLES / "synfire.yaml")

SMALL = """\
name: small
populations:
  - {name: drv, size: 4, vth: 10, bias_mant: 700, record: true}
  - {name: quiet, size: 2, vth: 131071}
sources:
  - {name: in, size: 2, spikes: [[0, 0], [5, 1]]}
projections:
  - {pre: drv, post: quiet, weight: 10}
  - {pre: in, post: drv, weight: 1}
"""


@pytest.fixture
def small(tmp_path):
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    return p


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_run_prints_a_summary(capsys, small):
    rc, out, err = run(capsys, "run", small, "--ticks", "20")
    assert rc == 0
    assert err == ""
    assert "small: 20 ticks on golden" in out
    # drv: bias 700 per tick, threshold 640 -> fires every tick: 4 neurons x 20 ticks
    lines = {line.split()[1]: line.split() for line in out.splitlines() if line.count("│") >= 4}
    assert lines["drv"][3:8:2] == ["4", "80", "1.0000"]
    assert lines["quiet"][3:8:2] == ["2", "0", "0.0000"]
    assert lines["total"][3:8:2] == ["6", "80", "0.6667"]
    assert "2 input spikes; wall time" in out


def test_summary_rows_match_the_raster():
    net = load_network(SYNFIRE)
    r = run_golden(net, 50)
    rows = cli.summary_rows(net, r)
    assert [row[0] for row in rows] == [p.name for p in net.populations]
    assert sum(row[2] for row in rows) == int(r.spikes.sum())
    g0 = rows[0]
    assert g0[3] == pytest.approx(r.spikes[:, :30].sum() / (30 * 50))


def test_quiet_prints_nothing(capsys, small):
    rc, out, err = run(capsys, "run", small, "-t", "5", "--quiet")
    assert (rc, out, err) == (0, "", "")


def test_out_writes_every_key(capsys, small, tmp_path):
    out_file = tmp_path / "r.npz"
    rc, out, _ = run(capsys, "run", small, "--ticks", "12", "--out", out_file)
    assert rc == 0
    assert f"results written to {out_file}" in out
    with np.load(out_file) as f:
        keys = set(f.files)
        assert keys == {*NPZ_KEYS, "population_names", "population_offsets"}
        assert f["spikes"].shape == (12, 6)
        assert f["inputs"].shape == (12, 2)
        assert f["recorded"].tolist() == [0, 1, 2, 3]
        assert f["u"].shape == f["v"].shape == (12, 4)
        assert f["final_u"].shape == f["final_v"].shape == (6,)
        assert f["population_names"].tolist() == ["drv", "quiet"]
        assert f["population_offsets"].tolist() == [0, 4, 6]
        assert str(f["backend"]) == "golden"
    loaded = Result.load(out_file)
    assert loaded.diff(run_golden(load_network(SMALL), 12)) == []


def test_out_keeps_the_given_file_name(capsys, small, tmp_path):
    rc, _, _ = run(capsys, "run", small, "-t", "3", "-q", "--out", tmp_path / "result.data")
    assert rc == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("result")] == ["result.data"]
    assert Result.load(tmp_path / "result.data").ticks == 3


def test_cycles_are_saved_when_present(tmp_path):
    r = run_golden(load_network(SMALL), 3)
    r.cycles = np.array([5, 6, 7])
    r.save(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as f:
        assert f["cycles"].tolist() == [5, 6, 7]
        assert "population_names" not in f.files  # no network given
    assert Result.load(tmp_path / "c.npz").cycles.tolist() == [5, 6, 7]


def test_plot_writes_a_png(capsys, tmp_path):
    png = tmp_path / "raster.png"
    rc, _out, _ = run(capsys, "run", SYNFIRE, "--ticks", "40", "--plot", png, "-q")
    assert rc == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5000


def test_plot_without_inputs_or_spikes(tmp_path):
    net = load_network("populations: [{name: a, size: 3}]\n")
    cli.plot_raster(net, run_golden(net, 0), tmp_path / "empty.png")
    assert (tmp_path / "empty.png").stat().st_size > 0


def test_bad_network_file_exits_2(capsys, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("populations:\n  - {name: a, size: 3, vth: -5}\n")
    rc, out, err = run(capsys, "run", p)
    assert rc == 2
    assert out == ""
    assert err == (
        f"error: {p}: populations[0].vth (line 2): neuron parameter vth must be between 0 "
        "and 131,071, not -5\n"
    )


def test_missing_network_file_exits_2(capsys, tmp_path):
    rc, _, err = run(capsys, "run", tmp_path / "nope.yaml")
    assert rc == 2
    assert err == f"error: network file {tmp_path / 'nope.yaml'} does not exist\n"


def test_unknown_backend_lists_the_known_ones(capsys, small):
    rc, _out, err = run(capsys, "run", small, "--backend", "verilog")
    assert rc == 2
    assert (
        err == "error: unknown backend 'verilog'; known backends are board, golden, rtl, tlm, "
        "tlm-cycle, tlm-timed\n"
    )


def test_acc_bits_out_of_range(capsys, small):
    rc, _, err = run(capsys, "run", small, "--acc-bits", "8")
    assert rc == 2
    assert err == "error: acc_bits must be an integer between 16 and 32, not 8\n"


def test_negative_ticks_is_a_usage_error(capsys, small):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", str(small), "--ticks", "-3"])
    assert info.value.code == 2
    assert "ticks must be >= 0, not -3" in capsys.readouterr().err


def test_unwritable_output_exits_2(capsys, small, tmp_path):
    rc, _, err = run(capsys, "run", small, "--out", tmp_path / "no" / "dir" / "r.npz")
    assert rc == 2
    assert err.startswith("error: ")


def test_backend_registry_is_one_line_to_extend(capsys, small, monkeypatch):
    seen = {}

    def fake(net, ticks, args):
        seen.update(ticks=ticks, acc_bits=args.acc_bits, chip=args.chip)
        r = run_golden(net, ticks, acc_bits=args.acc_bits)
        r.cycles = np.full(ticks, 10)
        return r

    monkeypatch.setitem(cli.BACKENDS, "fake", fake)
    rc, out, _ = run(capsys, "run", small, "-t", "7", "-b", "fake", "--acc-bits", "20")
    assert rc == 0
    assert seen == {"ticks": 7, "acc_bits": 20, "chip": None}
    assert "small: 7 ticks on fake" in out
    assert "70 cycles" in out
    rc, _, err = run(capsys, "run", small, "-b", "nope")
    assert (
        err == "error: unknown backend 'nope'; known backends are board, fake, golden, rtl, tlm, "
        "tlm-cycle, tlm-timed\n"
    )


def test_chip_config_sets_the_accumulator_width(capsys, small, tmp_path, monkeypatch):
    chip = tmp_path / "chip.yaml"
    chip.write_text("core: {acc_bits: 18}\n")
    seen = {}
    monkeypatch.setitem(
        cli.BACKENDS, "spy", lambda net, t, a: seen.update(a=a.acc_bits) or run_golden(net, t)
    )
    assert run(capsys, "run", small, "-b", "spy", "--chip", chip)[0] == 0
    assert seen["a"] == 18
    assert run(capsys, "run", small, "-b", "spy", "--chip", chip, "--acc-bits", "30")[0] == 0
    assert seen["a"] == 30  # an explicit --acc-bits wins


def test_check_config_prints_derived_widths(capsys, tmp_path):
    p = tmp_path / "chip.yaml"
    p.write_text("width: 4\nheight: 2\ncore: {neurons: 128}\n")
    rc, out, _ = run(capsys, "check-config", p)
    assert rc == 0
    assert "valid ChipConfig" in out
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines()
            if line.count("│") == 3}  # fmt: skip
    assert rows["mesh"] == "4 x 2 (8 tiles)"
    assert rows["neuron_bits"] == "7"
    assert rows["x_bits / y_bits"] == "2 / 1"
    assert rows["axon_bits"] == "8"


def test_check_config_errors(capsys, tmp_path):
    p = tmp_path / "chip.yaml"
    p.write_text("width: 4\ncore: {neurons: 100}\n")
    rc, out, err = run(capsys, "check-config", p)
    assert (rc, out) == (2, "")
    assert err == (
        f"error: {p}: Neurons per core (CoreConfig.neurons) must be a power of two between 16 "
        "and 1,024, not 100\n"
    )
    p.write_text("widht: 4\n")
    rc, _, err = run(capsys, "check-config", p)
    assert rc == 2
    assert err.startswith(f"error: {p}: unknown key(s) widht; known keys are ")
    rc, _, err = run(capsys, "check-config", tmp_path / "none.yaml")
    assert (rc, err) == (2, f"error: config file {tmp_path / 'none.yaml'} does not exist\n")


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2


def test_entry_point_in_a_subprocess(tmp_path):
    """The installed way: a separate interpreter, exit status 2 and no traceback on errors."""
    p = tmp_path / "bad.yaml"
    p.write_text("populations: [{name: a, size: 2}]\nprojections: [{pre: a, post: a, p: 2}]\n")
    env = {**os.environ, "COLUMNS": "100"}
    code = "import sys; from spikemesh.cli import main; sys.exit(main())"
    bad = subprocess.run([sys.executable, "-c", code, "run", str(p)], capture_output=True,
                         text=True, env=env, timeout=60)  # fmt: skip
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert bad.stderr.startswith(f"error: {p}: projections[0].p (line 2): ")
    good = subprocess.run([sys.executable, "-c", code, "run", SYNFIRE, "-t", "30"],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert "synfire: 30 ticks on golden" in good.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--load", "direct"],
            "--load applies to the tlm-timed, tlm-cycle, rtl backends, not golden",
        ),
        (["-b", "tlm", "--runner", "cocotb"], "--runner applies to the rtl backend only"),
        (["-b", "tlm-timed", "--waves", "w.fst"], "--waves applies to the rtl backend only"),
        (["-b", "rtl", "--waves-ticks", "1:2"], "--waves-ticks needs --waves FILE (.fst or .vcd)"),
        (
            ["-b", "rtl", "-t", "10", "--waves", "w.fst", "--waves-ticks", "5:10"],
            "--waves-ticks 5:10 is past the run's last tick (9)",
        ),
        (
            ["-b", "rtl", "--simulator", "icarus", "--runner", "verilator"],
            "--simulator icarus runs under cocotb: use --runner cocotb",
        ),
    ],
)
def test_timed_options_are_checked_before_running(capsys, small, argv, message):
    rc, out, err = run(capsys, "run", small, *argv)
    assert rc == 2 and out == ""
    assert err == f"error: {message}\n"


@pytest.mark.parametrize("window", ["3", "a:b", "5:2", "-1:3"])
def test_waves_ticks_must_be_a_window(capsys, small, window):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", str(small), "-b", "rtl", "--waves", "w.fst", f"--waves-ticks={window}"])
    assert e.value.code == 2
    assert "a tick window" in capsys.readouterr().err


def test_summary_and_plot_show_cycles_per_tick(capsys, small, monkeypatch, tmp_path):
    def timed(net, ticks, args):
        r = run_golden(net, ticks)
        r.cycles = np.arange(ticks) % 4 * 10 + 100  # 100, 110, 120, 130, 100, ...
        return r

    monkeypatch.setitem(cli.BACKENDS, "timed", timed)
    png = tmp_path / "p.png"
    rc, out, _ = run(capsys, "run", small, "-t", "6", "-b", "timed", "--plot", png)
    assert rc == 0
    assert "cycles per tick: mean 111.7, max 130 (slowest tick 3), min 100" in out
    assert cli.cycle_stats(np.array([3, 9, 9])) == {
        "total": 21,
        "mean": 7.0,
        "max": 9,
        "slowest_tick": 1,
        "min": 3,
    }
    assert cli.cycle_stats(None) is None
    # the cycles panel makes the figure taller than the same run's plain raster
    plain = tmp_path / "plain.png"
    assert run(capsys, "run", small, "-t", "6", "--plot", plain, "-q")[0] == 0
    from matplotlib.image import imread

    assert imread(png).shape[0] > imread(plain).shape[0]


def test_ticks_beyond_the_host_links_run_count_are_refused(capsys, small):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", str(small), "--ticks", str(1 << 32)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "ticks must be at most 4,294,967,295 (the host link's RUN counts ticks in 32 " in err
