"""A CJK font for matplotlib, so Chinese titles and labels render.

The font comes, in order of preference, from

1. the PyPI package ``mplfonts`` (ships Noto Sans CJK SC, SIL OFL), found
   through :mod:`importlib.resources` without importing the package;
2. a font matplotlib already knows about (for instance Debian's
   ``fonts-noto-cjk`` or ``fonts-wqy-microhei``), matched by family name;
3. a font file in the usual system folders, matched by file name.

The font is used as a *fallback* after DejaVu Sans (matplotlib's default):
Latin text looks the same whether or not a CJK font is present, and only the
glyphs DejaVu Sans lacks are taken from the CJK font. When no CJK font is
found a single :class:`CJKFontWarning` is emitted and figures are drawn with
the default font (Chinese characters then show as empty boxes).

DejaVu Sans itself is drawn from a cut of it (:func:`latin_cut_family`):
the same glyphs, metrics, kerning and hinting for Latin and Greek letters,
punctuation and mathematical signs, made once per machine. A PDF embeds a
subset of its font, and subsetting the whole DejaVu Sans (6,000 glyphs,
large layout tables) took 0.12-0.17 s per PDF, a quarter of writing a
study's figures; subsetting the cut takes 0.04 s.
Characters outside the cut fall back to the whole font, so nothing changes
in what is drawn (PNGs are identical byte for byte, tested).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import io
import warnings
from pathlib import Path

import matplotlib
from matplotlib import font_manager

__all__ = ["CJKFontWarning", "cjk_font_family", "font_families", "find_cjk_font_file", "has_cjk_font",
           "latin_cut_family"]

#: Latin font drawn first; matplotlib's bundled default, so always present.
LATIN_FAMILY = "DejaVu Sans"
#: Family name of the cut of :data:`LATIN_FAMILY` (its PostScript name, which PDFs show, is kept).
LATIN_CUT_FAMILY = "DejaVu Sans Cut"
#: Unicode blocks the cut keeps: Latin (Basic, Latin-1, Extended-A), Greek, punctuation, super- and
#: subscripts, currency, letterlike symbols, arrows and mathematical operators. Fewer glyphs make a faster
#: cut (0.04 s per PDF with these, 0.07 s with Cyrillic, IPA and Extended-B added, 0.12-0.17 s whole).
LATIN_CUT_BLOCKS = ((0x0020, 0x017F), (0x0370, 0x03FF), (0x2000, 0x20CF), (0x2100, 0x214F), (0x2190, 0x22FF))

#: Font files tried inside the ``mplfonts`` package, best first.
_PACKAGE_FILES = ("NotoSansCJKsc-Regular.otf", "SourceHanSerifSC-Regular.otf", "NotoSerifCJKsc-Regular.otf")

#: Family names of CJK fonts matplotlib may already have registered, best first.
_KNOWN_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans SC",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
)

#: System folders searched for CJK font files by name.
_SYSTEM_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "/System/Library/Fonts",
                "C:/Windows/Fonts")
_SYSTEM_PATTERNS = ("NotoSansCJK*-Regular.otf", "NotoSansCJK*.ttc", "SourceHanSans*.otf", "wqy-microhei.ttc",
                    "wqy-zenhei.ttc", "simhei.ttf", "msyh.ttc")


class CJKFontWarning(UserWarning):
    """No CJK font was found; Chinese text will not render."""


def _package_font() -> Path | None:
    try:
        root = importlib.resources.files("mplfonts") / "fonts"
    except (ModuleNotFoundError, TypeError):
        return None
    for name in _PACKAGE_FILES:
        candidate = root / name
        try:
            if candidate.is_file():
                return Path(str(candidate))
        except OSError:  # pragma: no cover - unreadable package folder
            continue
    return None


def _system_font() -> Path | None:
    for pattern in _SYSTEM_PATTERNS:
        for folder in _SYSTEM_DIRS:
            base = Path(folder)
            if not base.is_dir():
                continue
            hits = sorted(base.rglob(pattern))
            if hits:
                return hits[0]
    return None


def find_cjk_font_file() -> Path | None:
    """Path of a CJK font file that can be registered with matplotlib, or None.

    Returns
    -------
    pathlib.Path or None
        The ``mplfonts`` package's Noto Sans CJK SC when installed, else a
        CJK font file in a system font folder, else None.
    """
    return _package_font() or _system_font()


@functools.cache
def _discover() -> str | None:
    path = find_cjk_font_file()
    if path is not None:
        try:
            font_manager.fontManager.addfont(str(path))
            return font_manager.FontProperties(fname=str(path)).get_name()
        except (OSError, RuntimeError, ValueError):  # pragma: no cover - corrupt font file
            pass
    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in _KNOWN_FAMILIES:
        if family in known:
            return family
    return None


_warned = False


def cjk_font_family() -> str | None:
    """Register a CJK font with matplotlib (once) and return its family name.

    Returns
    -------
    str or None
        The family name to put in ``font.family`` (e.g. ``"Noto Sans CJK
        SC"``), or None, with one :class:`CJKFontWarning` per process, when
        no CJK font is available.
    """
    global _warned
    family = _discover()
    if family is None and not _warned:
        _warned = True
        warnings.warn(
            "no CJK font found (install the PyPI package 'mplfonts', or Debian's fonts-noto-cjk); "
            "Chinese characters in figures will not render",
            CJKFontWarning,
            stacklevel=2,
        )
    return family


def has_cjk_font() -> bool:
    """True when a CJK font is available to matplotlib."""
    return _discover() is not None


def _cut_bytes(source: Path) -> bytes:
    """``source`` cut to :data:`LATIN_CUT_BLOCKS`, every table and layout feature kept, family renamed."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.layout_features = options.name_IDs = options.name_languages = ["*"]
    options.drop_tables, options.passthrough_tables = [], True
    options.notdef_outline = options.glyph_names = options.legacy_kern = options.name_legacy = True
    options.recalc_timestamp = False
    font = TTFont(source, recalcTimestamp=False)
    sub = subset.Subsetter(options)
    sub.populate(unicodes=[c for lo, hi in LATIN_CUT_BLOCKS for c in range(lo, hi + 1)])
    sub.subset(font)
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):  # family, full name, typographic family; 6 (PostScript) kept
            record.string = record.toUnicode().replace(LATIN_FAMILY, LATIN_CUT_FAMILY)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


@functools.cache
def latin_cut_family() -> str | None:
    """Register the cut of DejaVu Sans with matplotlib (made once per machine) and return its family name.

    The cut is kept in matplotlib's cache folder under a name that hashes
    the source font, the blocks and the fontTools version, so it is made
    again when any of them changes.

    Returns
    -------
    str or None
        :data:`LATIN_CUT_FAMILY`, or None when the cut cannot be made or
        stored (figures then use the whole font, with the same result).
    """
    from fontTools import version as fonttools_version

    from spillover.io import atomic_write

    try:
        source = Path(font_manager.findfont(font_manager.FontProperties(family=LATIN_FAMILY),
                                            fallback_to_default=False))
        key = hashlib.sha256(source.read_bytes() + repr((LATIN_CUT_BLOCKS, fonttools_version)).encode())
        path = Path(matplotlib.get_cachedir()) / f"spillover-dejavu-cut-{key.hexdigest()[:16]}.ttf"
        if not path.is_file():
            data = _cut_bytes(source)
            atomic_write(path, lambda p: p.write_bytes(data))
        font_manager.fontManager.addfont(str(path))
    except Exception:  # noqa: BLE001 - any failure: the whole font draws the same glyphs
        return None
    return LATIN_CUT_FAMILY


def font_families() -> list[str]:
    """The ``font.family`` list for figures: the cut of DejaVu Sans, DejaVu Sans, then the CJK fallback if any.

    Matplotlib takes each character from the first of them that has it.
    Warns nothing (:func:`cjk_font_family` does, where Chinese text is drawn).

    Returns
    -------
    list of str
    """
    cut, cjk = latin_cut_family(), _discover()
    return [f for f in (cut, LATIN_FAMILY, cjk) if f is not None]
