"""Generated parts of docs/noc.md: the flit format and the routing table, from the code.

``python -m bench.noc.docs`` rewrites the blocks between
``<!-- BEGIN NOC GENERATED: name -->`` and ``<!-- END NOC GENERATED -->``;
``--check`` fails when the committed page is stale (tests/sim/test_mesh.py runs it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from spikemesh.config import ChipConfig, CoreConfig, flit_layout
from spikemesh.noc import Port, route

PAGE = Path(__file__).resolve().parents[2] / "docs" / "noc.md"
EXAMPLES = [
    ChipConfig(),
    ChipConfig(width=16, height=16, core=CoreConfig(neurons=1024, axons=4096)),
]


def gen_flit() -> str:
    parts = []
    for c in EXAMPLES:
        lay = flit_layout(c)
        parts.append(
            f"{c.width} x {c.height} tiles, {c.core.neurons} neurons and {c.core.axons} axons "
            f"per core ({lay.width} bits):\n\n{lay.markdown()}"
        )
    return "\n\n".join(parts)


def gen_routes() -> str:
    """Which output each destination takes from a few routers of a 3 x 3 mesh."""
    c = ChipConfig(width=3, height=3)
    dests = [(-1, 0), *[(x, y) for y in range(c.height) for x in range(c.width)]]
    at = [(0, 0), (1, 1), (0, 2), (2, 0)]
    rows = ["| dest (x, y) | " + " | ".join(f"from ({x}, {y})" for x, y in at) + " |"]
    rows.append("|---" * (len(at) + 1) + "|")
    for dx, dy in dests:
        name = "host (-1, 0)" if dx < 0 else f"({dx}, {dy})"
        rows.append(
            f"| {name} | " + " | ".join(Port(route(x, y, dx, dy)).name for x, y in at) + " |"
        )
    return "\n".join(rows)


GENERATORS = {"flit": gen_flit, "routes": gen_routes}
_BLOCK = re.compile(
    r"(<!-- BEGIN NOC GENERATED: ([\w-]+) -->\n)(.*?)(<!-- END NOC GENERATED -->)", re.S
)


def render(text: str) -> str:
    return _BLOCK.sub(
        lambda m: m.group(1) + GENERATORS[m.group(2)]().strip() + "\n" + m.group(4), text
    )


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    old = PAGE.read_text()
    new = render(old)
    if "--check" in argv:
        if new != old:
            print("docs/noc.md is out of date: run python -m bench.noc.docs")
            return 1
        return 0
    if new != old:
        PAGE.write_text(new)
        print("updated docs/noc.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
