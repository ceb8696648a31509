"""The unit grammar of the catalog."""

import pytest

from spillover.data.units import UnitParseError, parse_unit


@pytest.mark.parametrize(
    "text, factor, base, per",
    [
        ("100 million yuan", 1e8, "yuan", None),
        ("10,000 persons", 1e4, "persons", None),
        ("yuan", 1.0, "yuan", None),
        ("persons", 1.0, "persons", None),
        ("%", 0.01, "share", None),
        ("Mt CO2", 1e6, "t CO2", None),
        ("units per 100 enterprises", 0.01, "units", "enterprises"),
        ("units per 100 people", 0.01, "units", "persons"),
        ("index", 1.0, "index", None),
        ("10,000 households", 1e4, "households", None),
    ],
)
def test_parse_unit(text, factor, base, per):
    u = parse_unit(text)
    assert u.factor == pytest.approx(factor)
    assert (u.base, u.per) == (base, per)


@pytest.mark.parametrize("text", ["furlongs", "100 milion yuan", "yuan per", "", "10000 persons", "kg"])
def test_bad_units_raise(text):
    with pytest.raises(UnitParseError, match="does not parse"):
        parse_unit(text)
