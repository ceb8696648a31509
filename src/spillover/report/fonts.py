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
"""

from __future__ import annotations

import functools
import importlib.resources
import warnings
from pathlib import Path

from matplotlib import font_manager

__all__ = ["CJKFontWarning", "cjk_font_family", "font_families", "find_cjk_font_file", "has_cjk_font"]

#: Latin font drawn first; matplotlib's bundled default, so always present.
LATIN_FAMILY = "DejaVu Sans"

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


def font_families() -> list[str]:
    """The ``font.family`` list for figures: DejaVu Sans, then the CJK fallback if any.

    Returns
    -------
    list of str
    """
    cjk = cjk_font_family()
    return [LATIN_FAMILY] if cjk is None else [LATIN_FAMILY, cjk]
