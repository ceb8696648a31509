"""Province table and key harmonisation."""

import pytest

from spillover.data import provinces, resolve
from spillover.data.provinces import PROVINCES, normalize_key, province_codes


def test_thirty_one_provinces_with_nbs_regions():
    tab = provinces()
    assert len(tab) == 31
    assert list(tab.columns) == ["province", "province_zh", "province_short", "province_en", "region"]
    assert tab["province"].is_unique and tab["province"].is_monotonic_increasing
    assert all(isinstance(c, str) and len(c) == 6 and c.isdigit() for c in tab["province"])
    counts = tab["region"].value_counts().to_dict()
    assert counts == {"west": 12, "east": 10, "central": 6, "northeast": 3}
    assert tab.set_index("province").loc["210000", "region"] == "northeast"
    assert tab.set_index("province").loc["150000", "region"] == "west"


@pytest.mark.parametrize(
    "key",
    ["150000", 150000, 150000.0, "内蒙古自治区", "内蒙古", "Inner Mongolia", "Inner mongolia", "INNER MONGOLIA",
     " 内蒙古\t", "\u200b内蒙古自治区", "Nei Mongol"],
)
def test_resolve_every_key_form(key):
    assert resolve(key) == "150000"


def test_shanxi_and_shaanxi_stay_apart():
    assert resolve("Shanxi") == "140000"
    assert resolve("Shaanxi") == "610000"
    assert resolve("陕西") == "610000" and resolve("山西") == "140000"


@pytest.mark.parametrize("key", ["台湾", "香港", "合计", "Items", "北平", "999999", None, float("nan")])
def test_unknown_keys_resolve_to_none(key):
    assert resolve(key) is None


def test_all_names_round_trip():
    for p in PROVINCES:
        for key in (p.code, p.name_zh, p.short_zh, p.name_en):
            assert resolve(key) == p.code
    assert province_codes() == tuple(p.code for p in PROVINCES)


def test_normalize_key_strips_invisible_characters_and_fullwidth():
    assert normalize_key("\ufeff城镇人口（万人）  urban_pop\n") == "城镇人口(万人) urban_pop"
    assert normalize_key(110000.0) == "110000"
