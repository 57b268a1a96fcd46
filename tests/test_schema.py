"""The committed runbook JSON Schema: no drift from the model, and every example runbook passes it and the loader."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from standby.cli import main
from standby.loader import check

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "runbooks" / "runbook.schema.json"
EXAMPLES = sorted((ROOT / "runbooks").glob("*.yaml"))
MODELINE = "# yaml-language-server: $schema=./runbook.schema.json"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    """The JSON Schema as committed next to the examples."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def test_examples_exist() -> None:
    assert {path.name for path in EXAMPLES} >= {"shop.yaml", "aws-shop.yaml", "vsphere-erp.yaml"}


def test_committed_schema_matches_the_model(committed: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == committed, (
        "runbooks/runbook.schema.json is out of date: run `standby schema > runbooks/runbook.schema.json`"
    )


def test_committed_schema_is_a_valid_json_schema(committed: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(committed)


def _defaults(node: Any) -> list[tuple[dict[str, Any], Any]]:
    """Every (subschema, default) pair in a schema."""
    found = []
    if isinstance(node, dict):
        if "default" in node:
            found.append(({k: v for k, v in node.items() if k != "default"}, node["default"]))
        for value in node.values():
            found += _defaults(value)
    elif isinstance(node, list):
        for value in node:
            found += _defaults(value)
    return found


def test_schema_defaults_are_valid_runbook_values(committed: dict[str, Any]) -> None:
    pairs = _defaults(committed)
    assert pairs, "the schema documents defaults"
    for subschema, default in pairs:
        validator = jsonschema.Draft202012Validator({"$defs": committed["$defs"], **subschema})
        assert not list(validator.iter_errors(default)), f"default {default!r} fails its own schema {subschema}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_names_its_schema(example: Path) -> None:
    assert example.read_text(encoding="utf-8").splitlines()[0] == MODELINE


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_validates_with_the_loader(example: Path) -> None:
    runbook, issues = check(example)
    assert [str(issue) for issue in issues] == []
    assert runbook is not None


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_validates_against_the_json_schema(example: Path, committed: dict[str, Any]) -> None:
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(committed).iter_errors(data), key=lambda e: list(e.path))
    assert [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors] == []


def test_json_schema_rejects_an_unknown_key(committed: dict[str, Any]) -> None:
    data = yaml.safe_load((ROOT / "runbooks" / "shop.yaml").read_text(encoding="utf-8"))
    data["apps"]["db"]["depend_on"] = ["api"]
    assert not jsonschema.Draft202012Validator(committed).is_valid(data)


def test_json_schema_accepts_an_endpoint_given_by_name(committed: dict[str, Any]) -> None:
    data = yaml.safe_load((ROOT / "runbooks" / "shop.yaml").read_text(encoding="utf-8"))
    data["apps"]["db"]["endpoint"] = "db.shop.internal"
    assert jsonschema.Draft202012Validator(committed).is_valid(data)
