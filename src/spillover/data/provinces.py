"""The 31 mainland provinces of China and the keys they go by.

Every raw table names provinces its own way: GB/T 2260 administrative codes
(``110000``, sometimes stored as the float ``110000.0``), full Chinese names
(``北京市``), short Chinese names (``北京``) or English / pinyin names
(``Beijing``, ``Inner mongolia``). :func:`resolve` maps any of them to the
6-character GB code, which is the panel's ``province`` key.

Regions follow the National Bureau of Statistics four-way division used in
the China Statistical Yearbook since 2011 (east 10, central 6, west 12,
northeast 3).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

REGIONS: tuple[str, ...] = ("east", "central", "west", "northeast")


@dataclass(frozen=True)
class Province:
    """One province-level unit.

    Attributes
    ----------
    code : str
        GB/T 2260 code as a 6-character string, e.g. ``"110000"``.
    name_zh : str
        Full Chinese name, e.g. ``"内蒙古自治区"``.
    short_zh : str
        Short Chinese name, e.g. ``"内蒙古"``.
    name_en : str
        English name as used by the NBS English yearbook, e.g. ``"Inner Mongolia"``.
    region : str
        NBS region: ``east``, ``central``, ``west`` or ``northeast``.
    aliases : tuple of str
        Further spellings met in the sources (pinyin variants).
    """

    code: str
    name_zh: str
    short_zh: str
    name_en: str
    region: str
    aliases: tuple[str, ...] = ()


PROVINCES: tuple[Province, ...] = (
    Province("110000", "北京市", "北京", "Beijing", "east"),
    Province("120000", "天津市", "天津", "Tianjin", "east"),
    Province("130000", "河北省", "河北", "Hebei", "east"),
    Province("140000", "山西省", "山西", "Shanxi", "central"),
    Province("150000", "内蒙古自治区", "内蒙古", "Inner Mongolia", "west", ("Nei Mongol", "Neimenggu")),
    Province("210000", "辽宁省", "辽宁", "Liaoning", "northeast"),
    Province("220000", "吉林省", "吉林", "Jilin", "northeast"),
    Province("230000", "黑龙江省", "黑龙江", "Heilongjiang", "northeast"),
    Province("310000", "上海市", "上海", "Shanghai", "east"),
    Province("320000", "江苏省", "江苏", "Jiangsu", "east"),
    Province("330000", "浙江省", "浙江", "Zhejiang", "east"),
    Province("340000", "安徽省", "安徽", "Anhui", "central"),
    Province("350000", "福建省", "福建", "Fujian", "east"),
    Province("360000", "江西省", "江西", "Jiangxi", "central"),
    Province("370000", "山东省", "山东", "Shandong", "east"),
    Province("410000", "河南省", "河南", "Henan", "central"),
    Province("420000", "湖北省", "湖北", "Hubei", "central"),
    Province("430000", "湖南省", "湖南", "Hunan", "central"),
    Province("440000", "广东省", "广东", "Guangdong", "east"),
    Province("450000", "广西壮族自治区", "广西", "Guangxi", "west", ("Guangxi Zhuang",)),
    Province("460000", "海南省", "海南", "Hainan", "east"),
    Province("500000", "重庆市", "重庆", "Chongqing", "west"),
    Province("510000", "四川省", "四川", "Sichuan", "west"),
    Province("520000", "贵州省", "贵州", "Guizhou", "west"),
    Province("530000", "云南省", "云南", "Yunnan", "west"),
    Province("540000", "西藏自治区", "西藏", "Tibet", "west", ("Xizang",)),
    Province("610000", "陕西省", "陕西", "Shaanxi", "west"),
    Province("620000", "甘肃省", "甘肃", "Gansu", "west"),
    Province("630000", "青海省", "青海", "Qinghai", "west"),
    Province("640000", "宁夏回族自治区", "宁夏", "Ningxia", "west", ("Ningxia Hui",)),
    Province("650000", "新疆维吾尔自治区", "新疆", "Xinjiang", "west", ("Xinjiang Uygur", "Xinjiang Uyghur")),
)

_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")


def normalize_key(value: object) -> str:
    """Canonical text form of a key or header cell.

    NFKC-normalises, removes zero-width characters and byte-order marks,
    collapses runs of whitespace to one space and strips the ends. Integral
    floats (``110000.0``) become integers (``"110000"``).
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value))
    text = _INVISIBLE.sub("", text)
    return " ".join(text.split())


def _fold(text: str) -> str:
    return normalize_key(text).casefold().replace(" ", "").replace("-", "")


@functools.cache
def _lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for p in PROVINCES:
        for key in (p.code, p.name_zh, p.short_zh, p.name_en, *p.aliases):
            table[_fold(key)] = p.code
    return table


def resolve(key: object) -> str | None:
    """GB code of a province named by any supported key, or ``None``.

    Parameters
    ----------
    key : object
        GB code (int, float or str), full or short Chinese name, English
        name or a known pinyin alias; case, spaces and hyphens are ignored
        for Latin names.

    Returns
    -------
    str or None
        The 6-character GB code, or ``None`` when the key names no mainland
        province (the caller decides whether that is an error).
    """
    if key is None or (isinstance(key, float) and key != key):
        return None
    return _lookup().get(_fold(normalize_key(key)))


def province_codes() -> tuple[str, ...]:
    """The 31 GB codes in code order."""
    return tuple(p.code for p in PROVINCES)


def provinces() -> pd.DataFrame:
    """The province table: one row per province, sorted by GB code.

    Returns
    -------
    pandas.DataFrame
        Columns ``province`` (GB code, str), ``province_zh`` (full Chinese
        name), ``province_short`` (short Chinese name), ``province_en``
        and ``region`` (NBS region).
    """
    return pd.DataFrame(
        {
            "province": [p.code for p in PROVINCES],
            "province_zh": [p.name_zh for p in PROVINCES],
            "province_short": [p.short_zh for p in PROVINCES],
            "province_en": [p.name_en for p in PROVINCES],
            "region": [p.region for p in PROVINCES],
        }
    )
