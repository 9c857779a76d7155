"""spikemesh.hdlsim: the make environment every Verilator build uses, and what makes one
design's build the same in every clone (ccache hits across clones)."""

from pathlib import Path

import pytest

from spikemesh import hdlsim


@pytest.fixture
def with_ccache(monkeypatch):
    monkeypatch.setattr(hdlsim.shutil, "which", lambda name: f"/usr/bin/{name}")


def test_pch_fix_once_and_extra_flags_after_the_callers(with_ccache):
    env = hdlsim.verilator_make_env({"MAKEFLAGS": "-k", "SPIKEMESH_CCACHE": "0"}, "OPT_FAST=-O2")
    assert env == {"MAKEFLAGS": "-k CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2"}
    again = hdlsim.verilator_make_env({**env, "SPIKEMESH_CCACHE": "0"}, "OPT_FAST=-O2")
    assert again["MAKEFLAGS"].split().count("CFG_CXXFLAGS_PCH_I=-include") == 1
    assert again["MAKEFLAGS"].split().count("OPT_FAST=-O2") == 1


def test_ccache_compiles_through_a_cache_beside_the_rtl_builds(with_ccache, tmp_path):
    env = hdlsim.verilator_make_env({"SPIKEMESH_CACHE": str(tmp_path)})
    assert "OBJCACHE=ccache" in env["MAKEFLAGS"].split()
    assert env["CCACHE_DIR"] == str(tmp_path / "ccache")
    mine = hdlsim.verilator_make_env({"CCACHE_DIR": "/elsewhere"})
    assert "CCACHE_DIR" not in mine  # the user's own cache folder stays
    home = hdlsim.verilator_make_env({})
    assert home["CCACHE_DIR"] == str(Path.home() / ".cache" / "spikemesh" / "ccache")


def test_no_ccache_when_missing_or_turned_off(monkeypatch, with_ccache):
    assert "OBJCACHE" not in hdlsim.verilator_make_env({"SPIKEMESH_CCACHE": "0"})["MAKEFLAGS"]
    monkeypatch.setattr(hdlsim.shutil, "which", lambda name: None)
    env = hdlsim.verilator_make_env({})
    assert env == {"MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include"}


def test_a_builds_make_environment_does_not_outlive_it(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "-k")
    monkeypatch.delenv("CCACHE_DIR", raising=False)
    with hdlsim.patched_environ({"MAKEFLAGS": "-k OPT_FAST=-O0", "CCACHE_DIR": "/c"}):
        assert hdlsim.os.environ["MAKEFLAGS"] == "-k OPT_FAST=-O0"
    assert hdlsim.os.environ["MAKEFLAGS"] == "-k" and "CCACHE_DIR" not in hdlsim.os.environ


def test_ccache_rewrites_paths_below_the_clone(with_ccache):
    env = hdlsim.verilator_make_env({}, base_dir="/tmp/clone")
    assert env["CCACHE_BASEDIR"] == "/tmp/clone"
    assert "CCACHE_BASEDIR" not in hdlsim.verilator_make_env(
        {"CCACHE_BASEDIR": "/mine"}, base_dir="/x"
    )
    assert "CCACHE_BASEDIR" not in hdlsim.verilator_make_env({})
    off = hdlsim.verilator_make_env({"SPIKEMESH_CCACHE": "0"}, base_dir="/tmp/clone")
    assert "CCACHE_BASEDIR" not in off


def test_clone_root_holds_the_environment_and_the_build(monkeypatch, tmp_path):
    monkeypatch.setattr(hdlsim.sys, "prefix", str(tmp_path / "clone" / ".venv"))
    assert hdlsim._clone_root(tmp_path / "clone" / "build" / "cocotb" / "x") == str(
        tmp_path / "clone"
    )
    monkeypatch.setattr(hdlsim.sys, "prefix", "/usr")
    assert hdlsim._clone_root(tmp_path / "build") is None  # nothing in common below /


def test_shared_source_is_named_by_content_and_pruned(monkeypatch, tmp_path):
    """Two clones' copies of one design give one path (so Verilator writes the same C++ in
    both, and ccache hits); another design another path; the oldest copies go."""
    monkeypatch.setenv("SPIKEMESH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hdlsim, "KEEP_SOURCES", 2)
    a, b, c = (tmp_path / d / "core.v" for d in ("clone1", "clone2", "clone3"))
    for p, text in ((a, "module core; endmodule\n"), (b, "module core; endmodule\n"),
                    (c, "module core(input x); endmodule\n")):  # fmt: skip
        p.parent.mkdir()
        p.write_text(text)
    sa, sb = hdlsim.shared_source(a), hdlsim.shared_source(b)
    assert sa == sb and sa.parent == tmp_path / "cache" / "verilog" and sa.name.startswith("core-")
    assert sa.read_text() == a.read_text()
    sc = hdlsim.shared_source(c)
    assert sc != sa and sc.read_text() == c.read_text()
    os_time = sa.stat().st_mtime
    hdlsim.os.utime(sa, (os_time - 100, os_time - 100))  # the oldest
    d = tmp_path / "clone4" / "mesh.v"
    d.parent.mkdir()
    d.write_text("module mesh; endmodule\n")
    sd = hdlsim.shared_source(d)
    assert sorted(p.name for p in sa.parent.iterdir()) == sorted([sc.name, sd.name])
