"""The console script is installed and its groups are wired."""

from typer.testing import CliRunner

from spillover.cli import app


def test_help_lists_groups():
    out = CliRunner().invoke(app, ["--help"])
    assert out.exit_code == 0, out.output
    assert "spillover" in out.output.lower() or "Usage" in out.output


def test_diagnose_prints_the_sequence():
    out = CliRunner().invoke(app, ["diagnose", "--formula", "cpi ~ dei + urban"])
    assert out.exit_code == 0, out.output
    assert "robust_lm_lag" in out.output and "Chosen model" in out.output


def test_replicate_bad_spec_fails_before_estimation(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.toml").write_text('[[estimate]]\nname = "x"\nmodel = "sdm"\nformula = "cpi ~ dei"\n')
    out = CliRunner().invoke(app, ["replicate", str(tmp_path / "models"), "--out", str(tmp_path / "res")])
    assert out.exit_code == 2
    assert "a.toml" in out.output and "needs 'weights'" in out.output
    assert not (tmp_path / "res").exists()


def test_all_command_groups_are_mounted():
    out = CliRunner().invoke(app, ["--help"])
    for cmd in ("replicate", "verify", "diagnose", "montecarlo", "data", "weights"):
        assert cmd in out.output
