"""`optrunner validate` and `optrunner schema`, through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from _config_support import good_config, make_chain_db
from typer.testing import CliRunner

from optrunner.cli import app

runner = CliRunner()


@pytest.fixture
def folder(tmp_path):
    make_chain_db(tmp_path / "data" / "NFO_NIFTY.sqlite")
    configs = tmp_path / "configs"
    configs.mkdir()
    good = good_config("../data/NFO_NIFTY.sqlite")
    (configs / "good.json").write_text(json.dumps(good))
    return configs


def write_bad(folder):
    doc = good_config("../data/NFO_NIFTY.sqlite")
    doc["exit"]["exit_time"] = "9:30"
    doc["execution"]["product"] = "CNC"
    path = folder / "bad.json"
    path.write_text(json.dumps(doc))
    return path


def test_validate_good_file_exits_zero(folder):
    result = runner.invoke(app, ["validate", str(folder / "good.json")])
    assert result.exit_code == 0, result.output
    assert f"✓ {folder / 'good.json'}" in result.output
    assert "1 of 1 valid" in result.output


def test_validate_bad_file_lists_every_issue_and_exits_two(folder):
    bad = write_bad(folder)
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2  # bad input, as backtest/sweep/run say for the same file
    lines = result.output.splitlines()
    assert lines[0] == f"✗ {bad}"
    assert lines[1:3] == [
        '    exit.exit_time: "9:30" is not HH:MM — write "09:30"',
        '    execution.product: "CNC" is for equity delivery and is not valid for options — use NRML (carry) or MIS (intraday)',
    ]


def test_validate_folder_recurses_and_fails_if_any_file_fails(folder):
    write_bad(folder)
    nested = folder / "more" / "deeper"
    nested.mkdir(parents=True)
    (nested / "x.yaml").write_text("name: [unclosed\n")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert f"✓ {folder / 'good.json'}" in result.output
    assert f"✗ {folder / 'bad.json'}" in result.output
    assert f"✗ {nested / 'x.yaml'}" in result.output
    assert "1 of 3 valid" in result.output


def test_templates_are_validated_and_labelled(folder):
    doc = good_config("../data/NFO_NIFTY.sqlite") | {
        "name": "NIFTY_DNSS_TEMPLATE",
        "enabled": False,
    }
    (folder / "NIFTY_DNSS_TEMPLATE.json").write_text(json.dumps(doc))
    bad = good_config("missing.sqlite") | {"name": "OTHER_TEMPLATE"}
    (folder / "other.json").write_text(json.dumps(bad))
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2  # a broken template is still a broken file
    assert (
        f"✓ {folder / 'NIFTY_DNSS_TEMPLATE.json'} (not run: file name ends in TEMPLATE; backtest, sweep and run"
        in result.output
    )
    assert (
        f'✗ {folder / "other.json"} (not run: name "OTHER_TEMPLATE" ends in TEMPLATE'
        in result.output
    )
    assert "market_config.db_path" in result.output


def test_schema_files_written_by_optrunner_are_not_checked_as_strategies(folder):
    assert (
        runner.invoke(
            app, ["schema", "--out", str(folder / "STRATEGY_CONFIG_SCHEMA.json")]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "STRATEGY_CONFIG_SCHEMA.json (JSON Schema, not a strategy file" in result.output
    assert "1 of 1 valid" in result.output


def test_validate_missing_path_fails(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output


def test_validate_empty_folder_fails(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "no .json, .yaml or .yml files found" in result.output


def test_schema_prints_json_schema(folder):
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"name", "enabled", "market_config"}
    assert set(schema["properties"]["strategy"]["anyOf"][0]["enum"]) >= {"dnss", "momentum", "low_frequency_demo", "ml_momentum"}


def test_schema_out_writes_the_same_schema(tmp_path):
    out = tmp_path / "schema.json"
    result = runner.invoke(app, ["schema", "--out", str(out)])
    assert result.exit_code == 0
    assert f"wrote {out}" in result.output
    assert json.loads(out.read_text()) == json.loads(runner.invoke(app, ["schema"]).output)
