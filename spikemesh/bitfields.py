"""Bit-field layouts (the :class:`Layout` class), defined once, used by rtl/, sim/ and
firmware/; the layouts themselves are in ``spikemesh.config`` (flits),
``spikemesh.layouts`` (the core's memory words) and ``spikemesh.hostlink`` (host words).

A :class:`Layout` is an ordered list of fields, least significant first (the
same order as Amaranth's ``data.StructLayout``). The TLM and the firmware pack
and unpack Python integers with it; the RTL turns it into a
``data.StructLayout`` with :meth:`Layout.struct`, so a field width is written
exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    width: int
    signed: bool = False


class Layout:
    """An ordered, packed set of bit fields (LSB first).

    Parameters
    ----------
    name : str
        Used in error messages and generated docs.
    fields : list of (name, width) or (name, width, signed)
    """

    def __init__(self, name, fields):
        self.name = name
        self.fields = tuple(Field(*f) for f in fields)
        seen = set()
        for f in self.fields:
            if f.width < 1:
                raise ValueError(
                    f"Field {name}.{f.name} must be at least 1 bit wide, not {f.width}"
                )
            if f.name in seen:
                raise ValueError(f"Field {name}.{f.name} is defined twice")
            seen.add(f.name)
        self.offsets = {}
        off = 0
        for f in self.fields:
            self.offsets[f.name] = off
            off += f.width
        self.width = off
        self._by_name = {f.name: f for f in self.fields}

    def __getitem__(self, name) -> Field:
        return self._by_name[name]

    def __repr__(self):
        inner = ", ".join(f"{f.name}:{'s' if f.signed else 'u'}{f.width}" for f in self.fields)
        return f"Layout({self.name}: {inner})"

    def pack(self, **values) -> int:
        """Pack field values into an integer; every field must be given and in range."""
        word = 0
        missing = set(self._by_name) - set(values)
        if missing:
            raise ValueError(f"{self.name}: missing field(s) {sorted(missing)}")
        for key, val in values.items():
            if key not in self._by_name:
                raise ValueError(f"{self.name} has no field {key!r}")
            f = self._by_name[key]
            val = int(val)
            if f.signed:
                lo, hi = -(1 << (f.width - 1)), (1 << (f.width - 1)) - 1
            else:
                lo, hi = 0, (1 << f.width) - 1
            if not lo <= val <= hi:
                raise ValueError(
                    f"{self.name}.{key} = {val} does not fit {f.width} "
                    f"{'signed' if f.signed else 'unsigned'} bits ({lo}..{hi})"
                )
            word |= (val & ((1 << f.width) - 1)) << self.offsets[key]
        return word

    def unpack(self, word: int) -> dict:
        """Unpack an integer into a dict of field values (signed fields sign-extended)."""
        out = {}
        for f in self.fields:
            v = (int(word) >> self.offsets[f.name]) & ((1 << f.width) - 1)
            if f.signed and v >> (f.width - 1):
                v -= 1 << f.width
            out[f.name] = v
        return out

    def struct(self):
        """This layout as an Amaranth ``data.StructLayout`` (same field order and widths)."""
        from amaranth.hdl import signed, unsigned
        from amaranth.lib import data

        return data.StructLayout(
            {f.name: (signed(f.width) if f.signed else unsigned(f.width)) for f in self.fields}
        )

    def markdown(self) -> str:
        """A markdown table of the fields (for generated docs)."""
        rows = ["| field | bits | width | signed |", "|---|---|---|---|"]
        for f in self.fields:
            lo = self.offsets[f.name]
            rows.append(
                f"| {f.name} | {lo + f.width - 1}:{lo} | {f.width} | "
                f"{'yes' if f.signed else 'no'} |"
            )
        return "\n".join(rows)
