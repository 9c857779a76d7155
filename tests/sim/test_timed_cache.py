"""sim/_timed_cache.py: a cached kernel that inlines a helper from another file is
recompiled when only the helper's file changes (numba alone would keep the old code)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

RUN = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import helper, loop
    from spikemesh.sim._timed_cache import flush_stale
    if sys.argv[2] == "guard":
        flush_stale((helper, loop))
    print(loop.run(3))
    """
)


def _write_helper(d, body):
    (d / "helper.py").write_text(
        "import numba as nb\n\n"
        "@nb.njit(cache=True, inline='always')\n"
        f"def rule(x):\n    return {body}\n"
    )


def _run(d, mode):
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(d), mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1])


def test_a_changed_helper_file_recompiles_the_loop(tmp_path):
    (tmp_path / "loop.py").write_text(
        "import numba as nb\nfrom helper import rule\n\n"
        "@nb.njit(cache=True)\ndef run(x):\n    return rule(x)\n"
    )
    _write_helper(tmp_path, "x + 1")
    assert _run(tmp_path, "guard") == 4
    _write_helper(tmp_path, "x * 100")
    # the pitfall the guard exists for: numba's own check keeps the loop it cached
    assert _run(tmp_path, "plain") == 4
    assert _run(tmp_path, "guard") == 300
    assert _run(tmp_path, "plain") == 300  # and the fresh code is cached from then on
