"""Runbook validation: each invalid fixture gives exactly its issues, in place, and the CLI prints them."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from standby.cli import main
from standby.loader import check

ROOT = Path(__file__).resolve().parent.parent
INVALID = Path("tests/runbooks/invalid")
VALID = Path("tests/runbooks/valid")
MINIMAL_OK = "ok (runbook minimal: 2 machines, 2 apps, 2 groups)"

EXPECTED: dict[str, list[str]] = {
    "yaml-syntax-error": [
        "15:10: (document): YAML syntax error: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence started at line 14, column 15)",
    ],
    "duplicate-key": [
        "15:5: apps.db.machines: duplicate key 'machines' (first at line 14); remove one of them",
    ],
    "unknown-key": [
        "18:5: apps.api.depend_on: unknown key 'depend_on' (did you mean 'depends_on'?)",
    ],
    "wrong-type": [
        "14:15: apps.db.machines: expected a list, got a string 'db1'",
    ],
    "missing-required-field": [
        "7:3: protection.target: missing required key 'target'",
    ],
    "empty-file": [
        "1:1: (document): the file is empty; a runbook starts with 'runbook: NAME'",
    ],
    "unknown-machine": [
        "14:16: apps.db.machines[0]: unknown machine 'db2' (did you mean 'db1'?)",
    ],
    "unknown-group-app": [
        "16:3: apps.api: app 'api' is in no group; add it to a group's apps so it is recovered",
        "22:29: groups[1].apps[0]: unknown app 'ap1' (did you mean 'api'?)",
    ],
    "unknown-dependency": [
        "18:18: apps.api.depends_on[0]: unknown app 'dbb' (did you mean 'db'?)",
    ],
    "unknown-hook-group": [
        "24:10: hooks[0].at: unknown group 'service' (did you mean 'services'?)",
    ],
    "action-on-non-vsphere-site": [
        "24:65: hooks[0].action.restart_vm.site: site 'primary' is a local site; a remediation action needs a vSphere site",
    ],
    "unknown-hook-app": [
        "24:10: hooks[0].at: unknown app 'dbb' (did you mean 'db'?)",
    ],
    "unknown-protection-site": [
        "8:11: protection.target: unknown site 'dr2' (did you mean 'dr'?)",
    ],
    "duplicate-group-name": [
        "22:12: groups[1].name: duplicate group name 'data' (also groups[0]); rename one",
    ],
    "app-in-two-groups": [
        "22:29: groups[1].apps[0]: app 'db' is already in group 'data'; an app recovers in one group only",
    ],
    "app-in-no-group": [
        "16:3: apps.api: app 'api' is in no group; add it to a group's apps so it is recovered",
    ],
    "dependency-cycle": [
        "14:36: apps.a.depends_on[0]: dependency cycle: a -> b -> c -> a; remove one of these depends_on",
    ],
    "dependency-on-later-group": [
        "18:18: apps.api.depends_on[0]: 'api' (group 'services') depends on 'db' in the later group 'data'; "
        "move 'db' to group 'services' or an earlier one",
    ],
    "bad-duration": [
        "15:19: apps.db.stop_timeout: '10 seconds' is not a duration; write a number and a unit, e.g. 30s, 5m, 2h, 7d",
    ],
    "hook-jinja-syntax-error": [
        "24:48: hooks[0].run[1]: template syntax error: unexpected end of template, "
        "expected 'end of print statement'.",
    ],
    "hook-unknown-template-variable": [
        "24:48: hooks[0].run[1]: unknown template variable 'ap' (did you mean 'app'?)",
    ],
    "unknown-provider": [
        "5:18: sites.dr.provider: unknown provider 'locl' (did you mean 'local'?); "
        "expected one of: local, aws, vsphere",
    ],
    "dedicated-host-without-host": [
        "11:21: machines.app1.blueprint: launch_type dedicated-host needs 'host': the dedicated host to launch on",
    ],
    "health-check-two-kinds": [
        "16:9: apps.db.health[0]: a health check has one of 'tcp', 'http' or 'command', not tcp and http; "
        "write one check for each",
    ],
    "hook-run-and-prompt": [
        "24:5: hooks[0]: a hook has one of 'run' (a command argv), 'prompt' (a question for the operator) or 'action' "
        "(a VMware remediation), not run and prompt; write one hook for each",
    ],
    "endpoint-outside-dns-zone": [
        "23:15: apps.api.endpoint.name: 'api.shop.internal' is not in zone shop.example.org of site 'dr'; "
        "name it under that zone, or set sites.dr.dns.zone to the zone it is in",
    ],
    "many-issues": [
        "8:11: protection.target: unknown site 'drr' (did you mean 'dr'?)",
        "14:16: apps.db.machines[0]: unknown machine 'db2' (did you mean 'db1'?)",
        "18:18: apps.api.depends_on[0]: unknown app 'dbb' (did you mean 'db'?)",
        "22:34: groups[1].apps[1]: unknown app 'web'; known: api, db",
        "24:10: hooks[0].at: unknown group 'service' (did you mean 'services'?)",
        "24:55: hooks[0].run[1]: unknown template variable 'grup' (did you mean 'group'?)",
    ],
}


@pytest.fixture(autouse=True)
def in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in expected output are relative to the repository, as a user types them."""
    monkeypatch.chdir(ROOT)


def expected_lines(case: str) -> list[str]:
    """The exact `FILE:LINE:COL: PATH: message` lines of one invalid fixture."""
    return [f"{INVALID / case}.yaml:{line}" for line in EXPECTED[case]]


def invalid_fixtures() -> list[str]:
    """Names of every invalid fixture on disk."""
    return sorted(path.stem for path in (ROOT / INVALID).glob("*.yaml"))


def test_every_fixture_has_expectations() -> None:
    assert invalid_fixtures() == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_invalid_runbook_issues(case: str) -> None:
    _, issues = check(INVALID / f"{case}.yaml")
    assert [str(issue) for issue in sorted(issues)] == expected_lines(case)


@pytest.mark.parametrize("case", ["yaml-syntax-error", "empty-file", "duplicate-key"])
def test_syntax_issues_are_syntax(case: str) -> None:
    _, issues = check(INVALID / f"{case}.yaml")
    assert {issue.category for issue in issues} == {"syntax"}


def test_schema_failure_gives_no_runbook() -> None:
    runbook, issues = check(INVALID / "wrong-type.yaml")
    assert runbook is None
    assert [issue.category for issue in issues] == ["schema"]


def test_semantic_failure_keeps_the_parsed_runbook() -> None:
    runbook, issues = check(INVALID / "dependency-cycle.yaml")
    assert runbook is not None and runbook.runbook == "cycle"
    assert [issue.category for issue in issues] == ["semantic"]


def test_duplicate_key_keeps_the_first_value() -> None:
    runbook, _ = check(INVALID / "duplicate-key.yaml")
    assert runbook is not None
    assert runbook.apps["db"].machines == ["db1"]


def test_valid_minimal_has_no_issues() -> None:
    runbook, issues = check(VALID / "minimal.yaml")
    assert issues == []
    assert runbook is not None and list(runbook.apps) == ["db", "api"]


MINIMAL = (ROOT / VALID / "minimal.yaml").read_text(encoding="utf-8")
EDGE_CASES = {
    "recursive-alias": (
        "runbook: x\nsites: &s {a: *s}\n",
        "2:12: sites.a: YAML syntax error: an alias refers to a node that contains it; a runbook cannot be recursive",
    ),
    "app-without-a-mapping": (
        MINIMAL.replace('    machines: [app1]\n    depends_on: [db]\n    start: [./api, --port, "{{ port }}"]\n', ""),
        "16:7: apps.api: expected a mapping of keys to values, got nothing",
    ),
    "number-as-a-name": (
        MINIMAL.replace("  db1: {}", "  1: {}"),
        "10:3: machines.1: expected a string, got a number '1'",
    ),
    "health-check-of-no-kind": (
        MINIMAL.replace("    machines: [db1]\n", "    machines: [db1]\n    health: [{timeout: 5s}]\n"),
        "15:14: apps.db.health[0]: a health check needs one of 'tcp', 'http' or 'command'",
    ),
    "hook-of-no-kind": (
        MINIMAL + "hooks:\n  - {at: before}\n",
        "24:5: hooks[0]: a hook needs one of 'run' (a command argv), 'prompt' (a question for the operator) "
        "or 'action' (a VMware remediation)",
    ),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_are_located_issues(case: str, tmp_path: Path) -> None:
    text, expected = EDGE_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    _, issues = check(path)
    assert [str(issue) for issue in issues] == [f"{path}:{expected}"]


def run(*args: str):
    """`standby ARGS` in-process."""
    return CliRunner().invoke(main, list(args))


def test_cli_validate_valid_files() -> None:
    files = [str(VALID / "minimal.yaml"), *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("runbooks/*.yaml"))]
    result = run("validate", *files)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(files)
    assert lines[0] == f"{VALID / 'minimal.yaml'}: {MINIMAL_OK}"
    assert [line.split(": ok (")[0] for line in lines] == files
    assert result.stderr == ""


def test_cli_validate_invalid_file_prints_every_issue_sorted() -> None:
    result = run("validate", str(INVALID / "many-issues.yaml"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [*expected_lines("many-issues"), "6 issue(s) found"]


def test_cli_validate_several_files_prints_the_issues_of_all() -> None:
    cases = ["unknown-dependency", "many-issues", "dependency-cycle"]
    result = run("validate", *(f"{INVALID / case}.yaml" for case in cases), str(VALID / "minimal.yaml"))
    assert result.exit_code == 1
    expected = [line for case in sorted(cases) for line in expected_lines(case)]  # by file, then line and column
    assert result.stderr.splitlines() == [*expected, f"{len(expected)} issue(s) found"]
    assert result.stdout.splitlines() == [f"{VALID / 'minimal.yaml'}: {MINIMAL_OK}"]


def test_cli_validate_missing_file_is_an_issue() -> None:
    result = run("validate", "tests/runbooks/no-such-runbook.yaml")
    assert result.exit_code == 1
    assert result.stderr.startswith("tests/runbooks/no-such-runbook.yaml:1:1: (document): cannot read the file:")


@pytest.mark.parametrize("case", invalid_fixtures())
def test_cli_never_shows_a_traceback(case: str) -> None:
    result = run("validate", f"{INVALID / case}.yaml")
    assert isinstance(result.exception, SystemExit)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[:-1] == expected_lines(case)
