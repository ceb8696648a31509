"""Translator of display text: phrases, generated sentences, study text, and what it could not translate."""

from __future__ import annotations

import pytest

from spillover.report.i18n import Translator
from spillover.study.spec import load_study


def test_phrases_patterns_and_study_text():
    tr = Translator("zh", {"Two-way FE": "双向固定效应", "Queen contiguity": "Queen邻接"})
    assert tr("Observations") == "观测值" and tr("Lee-Yu transformation, QML") == "Lee-Yu变换，QML"
    assert tr("Standard errors in parentheses; standard errors: conventional (Pooled OLS, Two-way FE).") == \
        "括号内为标准误；标准误：常规（混合OLS，双向固定效应）。"
    assert tr("Dynamic SDM†") == "动态SDM†"  # the flag mark stays
    assert tr("动态SDM，QML") == "动态SDM，QML" and tr("0.123***") == "0.123***"
    assert not tr.missing


def test_untranslated_text_is_kept_and_recorded():
    tr = Translator("zh")
    assert tr("Standard errors in parentheses; standard errors: conventional (My column).") == \
        "Standard errors in parentheses; standard errors: conventional (My column)."
    assert tr.missing == {"Standard errors in parentheses; standard errors: conventional (My column)."}
    assert Translator("en")("anything") == "anything"
    with pytest.raises(ValueError, match="unknown language"):
        Translator("fr")


def test_translations_merge_across_study_files(tmp_path):
    from spillover.errors import SpecificationError

    (tmp_path / "a.toml").write_text('[data]\npanel = "p.csv"\nentity = "id"\ntime = "t"\n'
                                     '[translations.zh]\n"Title" = "标题"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('[translations.zh]\n"Note" = "注释"\n', encoding="utf-8")
    assert load_study(tmp_path).translations["zh"] == {"Title": "标题", "Note": "注释"}
    (tmp_path / "c.toml").write_text('[translations.zh]\n"Title" = "题目"\n', encoding="utf-8")
    with pytest.raises(SpecificationError, match="translates 'Title' differently"):
        load_study(tmp_path)


def test_figure_row_labels_carry_their_qualifier_in_the_language():
    from spillover.report.figures import variable_label

    assert variable_label("dei (short run)", {"dei": "数字经济指数"}, "zh") == "数字经济指数，短期"
    assert variable_label("dei (long run)", {"dei": "Digital economy index"}) == "Digital economy index, long run"


def test_embedded_font_subset_is_the_same_bytes_every_time():
    """No save date or random key in the embedded font: the same table gives the same Word file."""
    import time

    from spillover.report.docx_fonts import obfuscate, subset_truetype
    from spillover.report.fonts import find_cjk_font_file

    path = find_cjk_font_file()
    if path is None:
        pytest.skip("no CJK font installed")
    first, family = subset_truetype(str(path), "观测值数字经济")
    time.sleep(1.1)  # a save date would move by a second
    assert subset_truetype(str(path), "数字经济观测值")[0] == first and family
    key = "{00112233-4455-6677-8899-AABBCCDDEEFF}"
    assert obfuscate(obfuscate(first, key), key) == first and obfuscate(first, key)[:32] != first[:32]


def test_embedded_font_subset_does_not_depend_on_the_shared_cut():
    """Documents are cut from a shared cut of the CJK font; the bytes equal a cut of the whole font, however it grew."""
    import io

    from spillover.report import docx_fonts
    from spillover.report.fonts import find_cjk_font_file

    path = find_cjk_font_file()
    if path is None:
        pytest.skip("no CJK font installed")
    text = "空间杜宾模型（直接效应）：0.357***，鬱"
    buf = io.BytesIO()
    docx_fonts._cut(str(path), text, truetype=True).save(buf)  # the whole font, cut once
    docx_fonts._SOURCES.clear()
    first = docx_fonts.subset_truetype(str(path), text)[0]
    docx_fonts.subset_truetype(str(path), "龘齉")  # a document with characters the shared cut lacks: it grows
    assert len(docx_fonts._SOURCES[str(path)][0]) > len(set(text))
    assert docx_fonts.subset_truetype(str(path), text)[0] == first == buf.getvalue()
