"""Embed the CJK font in a Word document, so Chinese tables show the same glyphs on any machine.

Only the characters the document uses are kept (a subset of a few dozen
kilobytes instead of the whole font), and CFF outlines are converted to
quadratic TrueType ones, the kind Word embeds. The font part is stored
obfuscated, as ECMA-376 Part 1 (2016), 17.8.1 prescribes: the first 32
bytes are XORed with the 16 bytes of the font key GUID, read from its last
hex pair to its first. The GUID is derived from the font bytes, so the same
table gives the same file.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")

FONT_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.obfuscatedFont"
FONT_RELTYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/font"


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def _to_truetype(font) -> None:
    """Replace the CFF outlines of ``font`` by quadratic TrueType ones (max. error 1 font unit)."""
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder, glyf.glyphs = order, {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["glyf"], font["loca"] = glyf, newTable("loca")
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for key in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, key, 1 if key == "maxZones" else 0)
    maxp.maxPoints = maxp.maxContours = maxp.maxCompositePoints = maxp.maxCompositeContours = 0
    maxp.maxComponentDepth = 0
    font["maxp"] = maxp
    font["head"].glyphDataFormat = 0
    font["post"].formatType = 3.0  # no glyph names: TrueType readers need none
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    font.sfntVersion = "\x00\x01\x00\x00"


def _cut(source, text: str, *, truetype: bool):
    """The font at ``source`` (path or bytes) cut to the characters of ``text``; CFF converted when ``truetype``."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    src = io.BytesIO(source) if isinstance(source, bytes) else source
    font = TTFont(src, lazy=True, recalcTimestamp=False)  # lazy: tables read as needed; source date kept
    options = subset.Options()
    options.layout_features, options.name_IDs, options.notdef_outline = [], ["*"], True
    sub = subset.Subsetter(options)
    sub.populate(text="".join(sorted(set(text))))
    sub.subset(font)
    if truetype and "CFF " in font:
        _to_truetype(font)
    return font


def _package_alphabet() -> frozenset[str]:
    """Characters the package itself writes in Chinese (its phrases and sentence templates), ASCII, punctuation.

    Punctuation: the general block (dashes, quotes, ellipsis; a range "2013–2017"
    brings an en dash) and the CJK and full-width ones.
    """
    from spillover.report import i18n

    text = "".join(i18n.PHRASES.get("zh", {}).values()) + "".join(t for _, t in i18n.PATTERNS.get("zh", []))
    ascii_ = "".join(chr(c) for c in range(0x20, 0x7F))
    punctuation = "".join(chr(c) for c in (*range(0x2010, 0x2028), *range(0x3000, 0x3020), *range(0xFF01, 0xFF20)))
    return frozenset(text + ascii_ + punctuation)


#: Per font file: (characters it holds, the font cut to them in TrueType outlines), grown as documents bring new ones.
_SOURCES: dict[str, tuple[frozenset[str], bytes]] = {}
#: Characters announced by :func:`expect_text`, taken into the next cut.
_EXPECTED: set[str] = set()


def expect_text(text: str) -> None:
    """Announce text later documents will use (a study's translations, unit names): one shared cut then holds it.

    Each new character a document brings rebuilds the shared cut (about 1 s
    for a CJK font); announcing a rendering's vocabulary first saves those
    rebuilds. Changes no output.
    """
    _EXPECTED.update(text)


def _source(path: str, chars: frozenset[str]) -> bytes:
    """A TrueType cut of the font at ``path`` that holds ``chars``: loading a CJK font takes 0.4 s, its cut 0.05 s.

    Its outlines are converted once, here, not in every document. Cutting
    the cut to a document's characters gives the same bytes as cutting the
    whole font and converting that (the subsetter keeps glyph order and
    outlines, the conversion is glyph by glyph; tested), so which characters
    the shared cut holds changes no file.
    """
    alphabet, data = _SOURCES.get(path, (frozenset(), b""))
    if not chars <= alphabet:
        alphabet = alphabet | _package_alphabet() | _EXPECTED | chars
        buf = io.BytesIO()
        _cut(path, "".join(alphabet), truetype=True).save(buf)
        data = buf.getvalue()
        _SOURCES[path] = (alphabet, data)
    return data


def subset_truetype(path: str, text: str) -> tuple[bytes, str]:
    """(TrueType bytes, family name) of the font at ``path`` cut to the characters of ``text``."""
    font = _cut(_source(path, frozenset(text)), text, truetype=True)
    family = font["name"].getDebugName(1) or "CJK"
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue(), family


def obfuscate(data: bytes, key: str) -> bytes:
    """XOR the first 32 bytes of ``data`` with the GUID ``key`` (ECMA-376 Part 1, 17.8.1); its own inverse."""
    raw = bytes.fromhex(key.strip("{}").replace("-", ""))[::-1]
    head = bytes(b ^ raw[i % 16] for i, b in enumerate(data[:32]))
    return head + data[32:]


def embed_cjk_font(doc, text: str) -> str | None:
    """Embed the CJK font, cut to the characters of ``text``, in ``doc``; its family name (None: no CJK font).

    The family is declared in the font table with ``w:embedRegular`` and the
    settings ask Word to keep embedded TrueType fonts (``w:embedTrueTypeFonts``,
    ``w:saveSubsetFonts``).
    """
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from docx.oxml import parse_xml
    from docx.oxml.ns import qn

    from spillover.report.fonts import find_cjk_font_file

    path = find_cjk_font_file()
    if path is None:
        return None
    data, family = subset_truetype(str(path), text)
    key = "{" + str(uuid.UUID(bytes=hashlib.sha256(data).digest()[:16])).upper() + "}"
    part = Part(PackURI("/word/fonts/font1.odttf"), FONT_CONTENT_TYPE, obfuscate(data, key), doc.part.package)
    font_table = doc.part.part_related_by(RT.FONT_TABLE)
    rid = font_table.relate_to(part, FONT_RELTYPE)
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ' \
         'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    root = parse_xml(font_table.blob)
    root.append(parse_xml(f'<w:font {ns} w:name="{family}"><w:charset w:val="86"/><w:family w:val="swiss"/>'
                          f'<w:embedRegular r:id="{rid}" w:fontKey="{key}"/></w:font>'))
    font_table._blob = _serialise(root)
    settings = doc.settings.element
    before = {qn(f"w:{t}") for t in _SETTINGS_BEFORE}
    at = max([i + 1 for i, child in enumerate(settings) if child.tag in before] or [0])
    for tag in ("w:saveSubsetFonts", "w:embedTrueTypeFonts"):  # inserted in reverse: schema order
        if settings.find(qn(tag)) is None:
            settings.insert(at, parse_xml(f"<{tag} {ns}/>"))
    return family


#: Children of ``w:settings`` that precede ``w:embedTrueTypeFonts`` in the schema (ECMA-376 Part 1, 17.15.1.78).
_SETTINGS_BEFORE = ("writeProtection", "view", "zoom", "removePersonalInformation", "removeDateAndTime",
                    "doNotDisplayPageBoundaries", "displayBackgroundShape", "printPostScriptOverText",
                    "printFractionalCharacterWidth", "printFormsData")


def _serialise(el) -> bytes:
    from lxml import etree

    return etree.tostring(el, xml_declaration=True, encoding="UTF-8", standalone=True)
