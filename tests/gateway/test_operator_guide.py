"""docs/operator-guide.md says what the code does: its commands and options
exist, its settings are settings, its screenshot is there."""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.settings import GatewaySettings
from tests.processes import ROOT

GUIDE = (ROOT / "docs" / "operator-guide.md").read_text(encoding="utf-8")
runner = CliRunner()


def command_lines() -> list[list[str]]:
    lines = re.findall(r"^\$? ?(migrate-gateway [^\n|]+)", GUIDE, re.MULTILINE)
    return [shlex.split(line)[1:] for line in lines]


@pytest.mark.parametrize("args", command_lines(), ids=lambda a: " ".join(a))
def test_every_command_in_the_guide_exists_with_its_options(args: list[str]) -> None:
    help_text = runner.invoke(app, [args[0], "--help"], env={"COLUMNS": "200"}).output
    assert "Usage:" in help_text, help_text
    for option in (a for a in args[1:] if a.startswith("--")):
        assert option in help_text, f"{args[0]} has no {option}"


def test_every_setting_the_guide_names_is_a_gateway_setting() -> None:
    fields = set(GatewaySettings.model_fields)
    named = set(re.findall(r"GATEWAY_([A-Z_]+)", GUIDE)) - {"CONFIG_FILE"}  # the file, not a field
    assert named, "the guide names no setting"
    for name in named:
        assert name.lower() in fields, f"GATEWAY_{name} is not a setting"
    for name in re.findall(r"`((?:shadow|dashboard)_[a-z_]+)`", GUIDE):
        assert name in fields, f"{name} is not a setting"


def test_the_dashboard_screenshot_is_there() -> None:
    assert "](images/dashboard.png)" in GUIDE
    assert (ROOT / "docs" / "images" / "dashboard.png").stat().st_size > 10_000
