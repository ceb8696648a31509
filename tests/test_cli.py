"""The console script is installed and its groups are wired."""

from typer.testing import CliRunner

from spillover.cli import app


def test_help_lists_groups():
    out = CliRunner().invoke(app, ["--help"])
    assert out.exit_code == 0, out.output
    assert "spillover" in out.output.lower() or "Usage" in out.output
