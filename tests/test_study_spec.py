"""Study specifications fail before any estimation, naming file, key and allowed values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spillover.errors import SpecificationError
from spillover.study.spec import load_study

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture()
def study_dir(tmp_path):
    d = tmp_path / "models"
    shutil.copytree(MODELS, d)
    return d


def _append(d: Path, name: str, text: str) -> None:
    (d / name).write_text(text, encoding="utf-8")


def test_default_study_is_valid():
    st = load_study(MODELS)
    assert set(st.weights) == {"adjacency", "distance", "economic", "nested"}
    assert "sdm_twoways" in st.estimate_by_name()
    assert len(st.sources) == len(list(MODELS.glob("*.toml")))


def test_unknown_key_names_file_and_key(study_dir):
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "sar"\nformula = "cpi ~ dei"\nweights = "adjacency"\nfix = "twoways"\n')
    with pytest.raises(SpecificationError, match=r"90_bad.toml: estimate\[0\]\.fix: unknown key"):
        load_study(study_dir)


def test_wrong_value_lists_allowed(study_dir):
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "sar"\nformula = "cpi ~ dei"\nweights = "adjacency"\nfe = "individual"\n')
    with pytest.raises(SpecificationError, match=r"90_bad.toml: estimate\[0\]\.fe: .*'entity'.*got 'individual'"):
        load_study(study_dir)


def test_wrong_type(study_dir):
    _append(study_dir, "90_bad.toml", '[[moran]]\nname = "m2"\nvariables = "cpi"\nweights = ["adjacency"]\n')
    with pytest.raises(SpecificationError, match=r"moran\[0\]\.variables"):
        load_study(study_dir)


def test_undefined_weights_and_estimates(study_dir):
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "sar"\nformula = "cpi ~ dei"\nweights = "railway"\n'
            '[[table]]\nname = "t"\ncolumns = ["x", "nope"]\n')
    with pytest.raises(SpecificationError) as exc:
        load_study(study_dir)
    msg = str(exc.value)
    assert "weights = 'railway' is not defined" in msg and "adjacency" in msg
    assert "column 'nope' is not an estimate" in msg


def test_impossible_combinations(study_dir):
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "sem"\nformula = "cpi ~ dei"\nweights = "adjacency"\n'
            'impacts = { draws = 100 }\n')
    with pytest.raises(SpecificationError, match="impacts are defined for"):
        load_study(study_dir)
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "sdm"\nformula = "cpi ~ dei"\n')
    with pytest.raises(SpecificationError, match="needs 'weights'"):
        load_study(study_dir)
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "sac"\nformula = "cpi ~ dei"\nweights = "adjacency"\nfe = "random"\n')
    with pytest.raises(SpecificationError, match="random"):
        load_study(study_dir)


def test_duplicates_and_double_sections(study_dir):
    _append(study_dir, "90_bad.toml", '[study]\nname = "again"\n')
    with pytest.raises(SpecificationError, match=r"\[study\] is already defined in 00_study.toml"):
        load_study(study_dir)
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "sdm_twoways"\nmodel = "ols"\nformula = "cpi ~ dei"\n')
    with pytest.raises(SpecificationError, match="duplicate estimate name"):
        load_study(study_dir)


def test_toml_syntax_error_names_file(study_dir):
    _append(study_dir, "90_bad.toml", "[[estimate]\nname = \n")
    with pytest.raises(SpecificationError, match="90_bad.toml: TOML syntax error"):
        load_study(study_dir)


def test_analysis_sections_validate(study_dir):
    st = load_study(study_dir)
    assert st.mediation and st.threshold and st.regime
    _append(study_dir, "90_bad.toml", '[[mediation]]\nname = "m2"\nformula = "cpi ~ dei"\nmediators = ["innov"]\nweights = "rail"\n'
            '[[threshold]]\nname = "t2"\nformula = "cpi ~ dei"\nn_thresholds = 3\n')
    with pytest.raises(SpecificationError) as exc:
        load_study(study_dir)
    msg = str(exc.value)
    assert "threshold[0].n_thresholds" in msg and "got 3" in msg
    assert "mediation[0].treatment: Field required" in msg and "threshold[0].threshold_var: Field required" in msg


def test_issue6_options_validate(study_dir):
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "sdm"\nformula = "cpi ~ dei"\nweights = "adjacency"\n'
            'drop_interpolated = ["x13"]\n')
    with pytest.raises(SpecificationError, match="method = 'direct'"):
        load_study(study_dir)
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "iv"\nformula = "cpi ~ dei + urban"\n')
    with pytest.raises(SpecificationError, match=r"\[endog ~ instruments\]"):
        load_study(study_dir)
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "dynamic_sdm"\nformula = "cpi ~ dei"\n'
            'weights = "adjacency"\nfe = "time"\n')
    with pytest.raises(SpecificationError, match=r"takes fe = \['entity', 'twoways'\], not 'time'"):
        load_study(study_dir)
    _append(study_dir, "90_bad.toml", '[[estimate]]\nname = "x"\nmodel = "sac"\nformula = "cpi ~ dei"\nweights = "adjacency"\n'
            'method = "direct"\ndrop_interpolated = ["x13"]\n')
    with pytest.raises(SpecificationError, match="unbalanced panel"):
        load_study(study_dir)


def test_impacts_across_w_figure_validates(study_dir):
    st = load_study(study_dir)
    (fig,) = [f for f in st.figure if f.kind == "impacts_across_w"]
    assert fig.estimates == ["sdm_twoways", "sdm_distance", "sdm_economic", "sdm_nested"]
    _append(study_dir, "90_bad.toml", '[[figure]]\nname = "f"\nkind = "impacts_across_w"\n'
            'estimates = ["sdm_twoways", "sdm_spatial"]\n')
    with pytest.raises(SpecificationError, match=r"estimates \['sdm_spatial'\] are not defined"):
        load_study(study_dir)
    _append(study_dir, "90_bad.toml", '[[figure]]\nname = "f"\nkind = "impacts_across_w"\n'
            'estimates = ["sdm_twoways", "sar_twoways"]\n')
    with pytest.raises(SpecificationError, match=r"estimates \['sar_twoways'\] have no impacts"):
        load_study(study_dir)
    for body, match in (('kind = "impacts"\nestimates = ["sdm_twoways", "sdm_nested"]', "is for kind = 'impacts_across_w'"),
                        ('kind = "impacts_across_w"\nestimates = ["sdm_twoways"]', "two or more estimates"),
                        ('kind = "impacts_across_w"\nestimates = ["sdm_nested", "sdm_nested"]', "listed twice")):
        _append(study_dir, "90_bad.toml", f'[[figure]]\nname = "f"\n{body}\n')
        with pytest.raises(SpecificationError, match=match):
            load_study(study_dir)


def test_model_probabilities_entry_checked(study_dir):
    _append(study_dir, "91_bad.toml", '[[model_probabilities]]\nname = "bmp2"\nformula = "cpi ~ dei"\n'
            'weights = ["adjacency", "railway"]\n')
    with pytest.raises(SpecificationError, match=r"model_probabilities 'bmp2': weights 'railway' is not defined"):
        load_study(study_dir)
    _append(study_dir, "91_bad.toml", '[[model_probabilities]]\nname = "bmp2"\nformula = "cpi ~ dei"\n'
            'weights = ["adjacency"]\nmodels = ["sar", "gns"]\n')
    with pytest.raises(SpecificationError, match=r"models.*'gns'"):
        load_study(study_dir)


def test_spatial_iv_entries_validate(study_dir):
    """gm_* estimates: the [endog ~ instruments] bracket, durbin and years, each checked with file and key."""
    st = load_study(study_dir)
    e = st.estimate_by_name()["sdm_iv"]
    assert e.estimator_options() == {"durbin": True} and "[dei ~ L1.dei + L2.dei]" in e.formula
    assert st.estimate_by_name()["sdm_s2sls"].years == (2015, 2022)
    head = '[[estimate]]\nname = "x"\nweights = "adjacency"\nfe = "entity"\n'
    cases = [
        ('model = "sdm"\nformula = "cpi ~ urban + [dei ~ L1.dei]"',
         r"90_bad.toml: estimate\[0\].*needs model = 'iv' or one of \['gm_sem', 'gm_sar', 'gm_sarar', 'gm_sdem'\], "
         r"not 'sdm'"),
        ('model = "gm_sar"\nformula = "cpi ~ urban + [dei ~ L1.dei]"\noptions = { endog = ["dei"] }',
         "given twice"),
        ('model = "sdm"\nformula = "cpi ~ dei"\ndurbin = true', r"'sdm' has no durbin choice.*'gm_sar', 'gm_sarar'"),
        ('model = "gm_sem"\nformula = "cpi ~ dei"\ndurbin = true', "'gm_sem' has no durbin choice"),
        ('model = "gm_sar"\nformula = "cpi ~ dei + urban"\ndurbin = ["gov"]', r"durbin \['gov'\]: not regressors"),
        ('model = "gm_sar"\nformula = "cpi ~ dei + urban"\ndurbin = []', r"durbin = \[\] names no regressor"),
        ('model = "gm_sar"\nformula = "cpi ~ dei + urban"\ndurbin = "dei"', r"estimate\[0\]\.durbin"),
        ('model = "gm_sar"\nformula = "cpi ~ dei"\noptions = { durbin = true }', "keys of \\[\\[estimate\\]\\] itself"),
        ('model = "gm_sar"\nformula = "cpi ~ dei"\nyears = [2020, 2015]', r"years must be \[first, last\]"),
        ('model = "sdm"\nformula = "cpi ~ dei"\nyears = [2010, 2015]',
         r"90_bad.toml: \[\[estimate\]\] 'x': years \[2010, 2015\] are not within \[data\] years \[2013, 2022\]"),
    ]
    for body, match in cases:
        _append(study_dir, "90_bad.toml", head + body + "\n")
        with pytest.raises(SpecificationError, match=match):
            load_study(study_dir)
    _append(study_dir, "90_bad.toml", head + 'model = "gm_sarar"\nformula = "cpi ~ np.log(urban) + [dei ~ L1.dei]"\n'
            'durbin = ["dei", "np.log( urban )"]\n')  # a term matched as formulaic spells it
    assert load_study(study_dir).estimate_by_name()["x"].estimator_options() == {"durbin": ["dei", "np.log( urban )"]}


def test_weights_per_term_checked(study_dir):
    _append(study_dir, "92_bad.toml", '[[estimate]]\nname = "wx1"\nmodel = "sdm"\nformula = "cpi ~ dei"\n'
            'weights = "adjacency"\nweights_x = "railway"\n')
    with pytest.raises(SpecificationError, match="weights_x = 'railway' is not defined"):
        load_study(study_dir)
    _append(study_dir, "92_bad.toml", '[[estimate]]\nname = "wx1"\nmodel = "sar"\nformula = "cpi ~ dei"\n'
            'weights = "adjacency"\nweights_x = "distance"\n')
    with pytest.raises(SpecificationError, match="weights_x: model 'sar' has no W X terms"):
        load_study(study_dir)


def test_gm_entries_with_two_way_effects_robust_covariance_and_own_weights_load(study_dir):
    """The gm_* registry entries declare fe = time / twoways, cov and w_x / w_u: a spec using them loads and hands
    them to the estimator; an option the model lacks is refused naming the key."""
    head = '[[estimate]]\nname = "x"\nweights = "adjacency"\nformula = "cpi ~ dei + urban"\n'
    _append(study_dir, "90_gm.toml", head + 'model = "gm_sar"\nfe = "twoways"\ndurbin = true\ncov = "cluster"\n'
            'weights_x = "distance"\n')
    e = load_study(study_dir).estimate_by_name()["x"]
    assert (e.fe, e.weights_x) == ("twoways", "distance")
    assert e.estimator_options() == {"durbin": True, "cov": "cluster"}
    _append(study_dir, "90_gm.toml", head + 'model = "gm_sdem"\nfe = "time"\ncov = "robust"\nweights_u = "distance"\n')
    assert load_study(study_dir).estimate_by_name()["x"].fe == "time"
    cases = (('model = "gm_sar"\nfe = "none"', r"'gm_sar' takes fe = \['entity', 'time', 'twoways', 'random'\]"),
             ('model = "gm_sar"\nweights_u = "distance"', "weights_u: model 'gm_sar' has no spatial error"))
    for body, match in cases:
        _append(study_dir, "90_gm.toml", head + body + "\n")
        with pytest.raises(SpecificationError, match=match):
            load_study(study_dir)
