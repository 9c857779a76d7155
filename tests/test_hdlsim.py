"""spikemesh.hdlsim.verilator_make_env: the make environment every Verilator build uses."""

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
