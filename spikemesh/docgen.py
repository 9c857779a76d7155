"""Generate the tables in docs/ from the code, so the docs cannot drift.

A docs page holds blocks like::

    <!-- BEGIN GENERATED: flit -->
    ...
    <!-- END GENERATED -->

``python -m spikemesh.docgen`` rewrites every block from :data:`GENERATORS`;
``python -m spikemesh.docgen --check`` (run by the tests) fails if a
committed page is out of date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .config import ChipConfig, CoreConfig, flit_layout, host_source_layout
from .hostlink import Cmd, ErrorFlag, Rsp, StatusReg, command_layout, response_layout

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE_CHIP = ChipConfig(width=4, height=4, core=CoreConfig(neurons=256, axons=1024))


def _enum_table(enum_cls, what):
    rows = [f"| {what} | value |", "|---|---|"]
    rows += [f"| {e.name} | {int(e)} |" for e in enum_cls]
    return "\n".join(rows)


def gen_flit() -> str:
    c = EXAMPLE_CHIP
    return (
        f"For the example chip ({c.width} x {c.height} tiles, {c.core.neurons} neurons and "
        f"{c.core.axons} axons per core):\n\n{flit_layout(c).markdown()}\n\n"
        f"HOST_OUT payload (source neuron address):\n\n{host_source_layout(c).markdown()}"
    )


def gen_hostlink() -> str:
    from .layouts import config_data_bits

    c = EXAMPLE_CHIP
    parts = [
        f"Command word for the example chip ({command_layout(c, config_data_bits(c)).width} bits):",
        command_layout(c, config_data_bits(c)).markdown(),
        f"Response word ({response_layout().width} bits):",
        response_layout().markdown(),
        _enum_table(Cmd, "command op"),
        _enum_table(Rsp, "response op"),
        _enum_table(StatusReg, "status register"),
        _enum_table(ErrorFlag, "error flag (bit value)"),
    ]
    return "\n\n".join(parts)


def gen_image_header() -> str:
    from spikemesh.firmware.image import _HEADER, IMAGE_VERSION, MAGIC

    return (
        f"Header: `struct` format `{_HEADER.format}` ({_HEADER.size} bytes): magic `{MAGIC!r}`, "
        f"format version (currently {IMAGE_VERSION}), payload length, SHA-256 of the payload."
    )


def gen_core_tables() -> str:
    from .layouts import core_markdown

    return core_markdown(EXAMPLE_CHIP)


def gen_route_region() -> str:
    from .layouts import route_markdown

    return route_markdown(EXAMPLE_CHIP)


def gen_delay_memory() -> str:
    """Memory per core of the synaptic delays (docs/core-resources.md, docs/timing.md)."""
    from .config import MAX_DELAYS

    cores = {
        "N=64": CoreConfig(neurons=64),
        "N=256": CoreConfig(neurons=256, axons=1024, synapses=8192, fanout=2048),
    }
    head = "| D = `max_delay` | banks | " + " | ".join(
        f"{k}: ACC bits | {k}: axon delay bits | {k}: added over D = 1" for k in cores
    )
    rows = [head + " |", "|---" * (2 + 3 * len(cores)) + "|"]
    for d in MAX_DELAYS:
        cells = [str(d), str(d + 1)]
        for base in cores.values():
            c = CoreConfig(**{**base.to_dict(), "max_delay": d})
            acc, dly = c.acc_banks * c.neurons * c.acc_bits, c.axons * c.delay_bits
            added = acc + dly - 2 * c.neurons * c.acc_bits
            cells += [f"{acc:,}", f"{dly:,}", f"{added:,}"]
        rows.append("| " + " | ".join(cells) + " |")
    return (
        "Per core: ACC = (D + 1) banks x N words x `acc_bits`; the axon table's words grow "
        "by `delay_bits` = ceil(log2 D) (0 for D = 1); nothing else changes. For the two "
        "cores of the table above (acc_bits 24):\n\n" + "\n".join(rows)
    )


def gen_core_memories() -> str:
    """Bits held and occupied per core memory, per FPGA family (docs/core-resources.md)."""
    from .memory_geometry import memory_markdown

    return memory_markdown()


GENERATORS = {
    "delay-memory": gen_delay_memory,
    "core-memories": gen_core_memories,
    "flit": gen_flit,
    "hostlink": gen_hostlink,
    "route-region": gen_route_region,
    "image-header": gen_image_header,
    "core-tables": gen_core_tables,
}

_BLOCK = re.compile(r"(<!-- BEGIN GENERATED: ([\w-]+) -->\n)(.*?)(<!-- END GENERATED -->)", re.S)


def render(text: str) -> str:
    def sub(m):
        name = m.group(2)
        if name not in GENERATORS:
            raise KeyError(f"unknown generated block {name!r}; known: {', '.join(GENERATORS)}")
        return m.group(1) + GENERATORS[name]().strip() + "\n" + m.group(4)

    return _BLOCK.sub(sub, text)


def stale_pages(write: bool) -> list[str]:
    stale = []
    for page in sorted(DOCS.glob("*.md")):
        old = page.read_text()
        new = render(old)
        if new != old:
            stale.append(page.name)
            if write:
                page.write_text(new)
    return stale


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    stale = stale_pages(write=not check)
    if check and stale:
        print(f"out of date (run python -m spikemesh.docgen): {', '.join(stale)}")
        return 1
    for name in stale:
        print(f"updated docs/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
