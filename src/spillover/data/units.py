"""A small grammar for the units written in ``data_raw/catalog.toml``.

A unit reads ``[scale] base [per [scale] denominator]``, for example
``"100 million yuan"`` (亿元), ``"10,000 persons"`` (万人), ``"yuan"``,
``"units per 100 enterprises"``, ``"%"`` or ``"Mt CO2"``. Parsing gives the
factor that converts a stored value to the base unit, so derived variables
can be computed in base units (yuan, persons, tonnes) whatever unit a
source table uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: multiplicative scale words (Chinese 万 = 10,000, 亿 = 100 million)
SCALES: dict[str, float] = {
    "100 million": 1e8,
    "10,000": 1e4,
    "10 thousand": 1e4,
    "billion": 1e9,
    "million": 1e6,
    "thousand": 1e3,
    "hundred": 1e2,
    "100": 1e2,
}

#: base units; the value is (canonical base, factor to the canonical base)
BASES: dict[str, tuple[str, float]] = {
    "yuan": ("yuan", 1.0),
    "persons": ("persons", 1.0),
    "people": ("persons", 1.0),
    "person-years": ("person-years", 1.0),
    "households": ("households", 1.0),
    "units": ("units", 1.0),
    "enterprises": ("enterprises", 1.0),
    "km": ("km", 1.0),
    "km2": ("km2", 1.0),
    "t CO2": ("t CO2", 1.0),
    "Mt CO2": ("t CO2", 1e6),
    "index": ("index", 1.0),
    "share": ("share", 1.0),
    "ratio": ("ratio", 1.0),
    "%": ("share", 0.01),
}

_SCALE_RE = "|".join(re.escape(s) for s in sorted(SCALES, key=len, reverse=True))
_BASE_RE = "|".join(re.escape(b) for b in sorted(BASES, key=len, reverse=True))
_UNIT = re.compile(
    rf"^(?:(?P<scale>{_SCALE_RE})\s+)?(?P<base>{_BASE_RE})"
    rf"(?:\s+per\s+(?:(?P<pscale>{_SCALE_RE})\s+)?(?P<pbase>{_BASE_RE}))?$"
)


class UnitParseError(ValueError):
    """The text is not a unit of the catalog grammar."""


@dataclass(frozen=True)
class Unit:
    """A parsed unit.

    Attributes
    ----------
    text : str
        The unit as written in the catalog.
    factor : float
        Multiply a stored value by ``factor`` to express it in ``base``
        (per ``per`` when given).
    base : str
        Canonical base unit (``yuan``, ``persons``, ``t CO2``, ``share`` ...).
    per : str or None
        Canonical denominator unit for rates, e.g. ``enterprises``.
    """

    text: str
    factor: float
    base: str
    per: str | None = None


def parse_unit(text: str) -> Unit:
    """Parse a catalog unit.

    Parameters
    ----------
    text : str
        E.g. ``"100 million yuan"``, ``"10,000 persons"``, ``"%"``,
        ``"units per 100 people"``.

    Returns
    -------
    Unit

    Raises
    ------
    UnitParseError
        When ``text`` does not follow ``[scale] base [per [scale] base]``.
    """
    m = _UNIT.match(" ".join(str(text).split()))
    if m is None:
        raise UnitParseError(
            f"unit {text!r} does not parse; write '[scale] base [per [scale] base]' with scale in "
            f"{sorted(SCALES)} and base in {sorted(BASES)}"
        )
    base, base_factor = BASES[m["base"]]
    factor = SCALES.get(m["scale"] or "", 1.0) * base_factor
    per = None
    if m["pbase"]:
        per, per_factor = BASES[m["pbase"]]
        factor /= SCALES.get(m["pscale"] or "", 1.0) * per_factor
    return Unit(text=text, factor=factor, base=base, per=per)


#: units written in Chinese table headers, as catalog units
CHINESE: dict[str, str] = {
    "亿元": "100 million yuan", "万元": "10,000 yuan", "元": "yuan",
    "万人": "10,000 persons", "人": "persons", "万户": "10,000 households", "户": "households",
    "万个": "10,000 units", "个": "units", "万台": "10,000 units", "台": "units", "公里": "km", "千米": "km",
    "万吨": "10,000 t CO2", "%": "%",
}
_BRACKETS = re.compile(r"[(（]([^()（）]*)[)）]")
_FIND = re.compile(rf"(?:(?:{_SCALE_RE})\s+)?(?:{_BASE_RE})(?![A-Za-z])")


def header_unit(header: str) -> Unit | None:
    """The unit a column header states in brackets (``"GDP(亿元)"``, ``"(Industry, 10,000 persons)"``), if any.

    Only the numerator is read (``"元/人"`` states yuan); a bracket that names
    no unit of the grammar gives ``None``, and so does a header that names two
    different ones.
    """
    found: set[tuple[float, str]] = set()
    for inner in _BRACKETS.findall(str(header)):
        head = inner.split("/")[0].strip()
        text = CHINESE.get(head)
        if text is None:
            hits = _FIND.findall(" ".join(head.split()))
            text = hits[-1] if hits else None
        if text is None:
            continue
        try:
            unit = parse_unit(text)
        except UnitParseError:
            continue
        found.add((unit.factor, unit.base))
    if len(found) != 1:
        return None
    factor, base = found.pop()
    return Unit(text=str(header), factor=factor, base=base)
