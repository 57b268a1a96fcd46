"""Runbook validation: each fixture gives exactly its issues, in place, and the CLI prints them with its exit code."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from standby.cli import main
from standby.loader import check, load

ROOT = Path(__file__).resolve().parent.parent
INVALID = Path("tests/runbooks/invalid")
VALID = Path("tests/runbooks/valid")
MINIMAL_OK = "ok (runbook minimal: 2 machines, 2 apps, 2 groups)"

EXPECTED: dict[str, list[str]] = {
    "yaml-syntax-error": [
        "15:10: (document): YAML syntax error: did not find expected ',' or ']' "
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
        "24:65: hooks[0].action.restart_vm.site: site 'primary' is a local site; "
        "a remediation action needs a vSphere site",
    ],
    "unknown-hook-app": [
        "24:10: hooks[0].at: unknown app 'dbb' (did you mean 'db'?)",
    ],
    "access-gates-misplaced": [
        "24:3: access: access.failover.pause, access.protect.request: pause and resume are gates of access.protect "
        "only, and access.protect has no other (approve, ldap_group or users there grant both)",
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
    "warm-on-some-apps": [
        "16:59: apps.db.warm.start[4]: unknown template variable 'nope'; available: app, data, endpoints, machine, "
        "port, python, runbook, site",
        "17:3: apps.api: app 'api' has no 'warm' while db has one; a warm switchover readies every app at its "
        "target: add 'warm: {stateless: true}' if it keeps no replicated data, a warm 'start' and 'promote' if it "
        "does, or drop 'warm' from the others",
    ],
    "warm-half": [
        "15:11: apps.db.warm: give 'start' (the warm process's argv) and 'promote' (e.g. {signal: SIGUSR1}), or "
        "'stateless: true' for an app that keeps no replicated data",
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
        "expected one of: local, aws, vsphere, mixed",
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
    "machine-at-unknown-site": [
        "13:7: machines.db1.at.drr: unknown vSphere site 'drr' (did you mean 'dr'?)",
        "14:7: machines.db1.at.lab: site 'lab' is a local site; 'at' places a machine at a vSphere site "
        "(vSphere sites: dr, hq)",
    ],
    "sites-sharing-a-folder": [
        "5:49: sites.dr.path: /srv/standby/shop is the folder of site 'primary' (/srv/standby/shop): one site's "
        "machines, points and endpoints would overwrite the other's; give each site a folder of its own",
        "6:50: sites.lab.path: /srv/standby/shop/lab nests with the folder of site 'primary' (/srv/standby/shop): "
        "one site's machines, points and endpoints would overwrite the other's; give each site a folder of its own",
    ],
    "mixed-site-holders": [
        "20:3: machines.db1: machine 'db1' comes to AWS from vsphere at 'hq', outside AWS: Elastic Disaster "
        'Recovery replicates it as a server outside AWS and fails it back through the Failback Client; set '
        'source: onprem',
        "24:51: machines.db2.at.dr.provider: site 'dr' has no provider 'clod' (did you mean 'cloud'?)",
        "26:39: machines.app1.at.hq.vm: 'vm' is read by a vSphere provider; 'services' of site 'hq' is local:"
        ' remove it, or hold the machine by a vSphere provider of the site',
        "26:91: machines.app1.at.lab.provider: site 'lab' has one provider (vsphere); 'provider' picks one of"
        " a mixed site's providers: remove it",
        "27:3: machines.app2: machine 'app2' is at mixed site 'dr', which holds cloud (aws), services "
        '(local); say which holds it: at: {dr: {provider: cloud}}',
        "29:3: machines.cache1: machine 'cache1' is held by local at 'hq' and by aws at 'dr': only a local "
        "provider replicates a local machine's folder, and only into a local provider; hold it by local "
        'providers at both sites, or by none',
        "32:24: apps.db.machines[1]: machine 'db2' is held by 'services' at site 'hq', machine 'db1' of the "
        "same app by 'vcenter'; one provider holds an app at a site (it starts, stops and moves the app as "
        'one): give them the same provider, or make two apps',
        "33:26: apps.app.machines[1]: machine 'app2' is held by 'vcenter' at site 'hq', machine 'app1' of the"
        " same app by 'services'; one provider holds an app at a site (it starts, stops and moves the app as "
        'one): give them the same provider, or make two apps',
    ],
    "endpoint-outside-dns-zone": [
        "24:15: apps.api.endpoint.name: 'api.shop.internal' is not in zone shop.example.org of site 'dr'; "
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
    "alias-bomb": [
        "9:12: sites.a5[0]: the runbook expands to more than 200,000 values (an alias counts every value it "
        "repeats); a runbook may hold at most 200,000",
    ],
    "deep-nesting": [
        f"4:36: sites.a{'[0]' * 30}: the runbook nests deeper than 32 levels, the most a runbook may",
    ],
    "template-unknown-filter": [
        "24:50: hooks[0].run[1]: unknown filter 'uper' (did you mean 'upper'?)",
    ],
    "template-unknown-test": [
        "24:50: hooks[0].run[1]: unknown test 'nosuchtest'",
    ],
    "template-unknown-endpoint": [
        "20:48: apps.api.start[4]: unknown key 'dbx' of the apps with an endpoint port (did you mean 'db'?)",
    ],
    "template-sandbox-escape": [
        "24:32: hooks[0].run[1]: '__class__' is not allowed: names that start with '_' reach Python internals, "
        "outside the template sandbox",
        "24:32: hooks[0].run[1]: '__mro__' is not allowed: names that start with '_' reach Python internals, "
        "outside the template sandbox",
        "25:32: hooks[1].run[1]: filter 'attr' is not available in runbook templates; it reads Python attributes "
        "by name; use endpoints.db or endpoints['db']",
        "26:26: hooks[2].prompt: '__globals__' is not allowed: names that start with '_' reach Python internals, "
        "outside the template sandbox",
        "26:26: hooks[2].prompt: unknown template variable 'lipsum'; available: app, group, mode, operation, "
        "recovery_point, runbook, site, target",
        "27:32: hooks[3].run[1]: templates cannot call functions or methods; use a filter, e.g. {{ app | upper }}",
    ],
    "negative-numbers": [
        "9:18: protection.tested_within: -90 seconds is negative; a duration is 0s or more, e.g. 30s, 5m, 2h, 7d",
        "17:10: apps.db.rto: -5 seconds is negative; a duration is 0s or more, e.g. 30s, 5m, 2h, 7d",
        "18:33: apps.db.health[0].timeout: -1 seconds is negative; a duration is 0s or more, e.g. 30s, 5m, 2h, 7d",
        "27:42: hooks[0].timeout: -60 seconds is negative; a duration is 0s or more, e.g. 30s, 5m, 2h, 7d",
    ],
    "empty-commands": [
        "15:13: apps.db.start[0]: the program is empty; write the command first, e.g. [./check.sh, --quick]",
        "24:24: hooks[0].run[0]: the program is empty; write the command first, e.g. [./check.sh, --quick]",
    ],
    "yaml-words-as-keys": [
        "11:3: machines.no: YAML reads the key 'no' as true/false; quote it (\"no\") to use it as a name",
        "24:39: hooks[0].env.on: YAML reads the key 'on' as true/false; quote it (\"on\") to use it as a name",
    ],
    "schema-and-references": [
        "16:10: apps.db.rto: '5 minutes' is not a duration; write a number and a unit, e.g. 30s, 5m, 2h, 7d",
        "19:18: apps.api.depends_on[0]: unknown app 'dbb' (did you mean 'db'?)",
    ],
    "two-letter-name": [
        "18:18: apps.api.depends_on[0]: unknown app 'dc' (did you mean 'db'?)",
    ],
    "warnings": [
        "5:7: warning: sites.dr.port_base: sites 'primary' and 'dr' both give machines ports 18000-18002 "
        "(port_base 18000 and 18000, 3 machines); give each site its own range",
        "12:3: warning: machines.spare1: machine 'spare1' belongs to no app, so no operation recovers it; "
        "add it to an app's machines or remove it",
        "20:22: warning: apps.api.depends_on[1]: 'db' is already listed (depends_on[0]); remove this one",
        "21:42: warning: apps.api.endpoint.port: app 'db' has public port 18050 too; only one app can answer there, "
        "give each its own",
    ],
    "not-a-runbook": [
        "2:1: (document): not a runbook: none of its keys (apiVersion, kind, metadata) is a runbook's; "
        "a runbook starts with 'runbook: NAME'",
    ],
    "list-not-a-mapping": [
        "2:1: (document): not a runbook: the file holds a list; a runbook is a mapping that starts with "
        "'runbook: NAME'",
    ],
    "fails-only-mid-failover": [
        "4:41: sites.primary.port_base: drill ports 66035-66036 for 2 machines go past 65535; "
        "set test_port_base to 65534 or lower",
        "4:41: sites.primary.port_base: machine ports 65535-65536 for 2 machines go past 65535; "
        "set port_base to 65534 or lower",
        "16:40: apps.db.health[0].command.run[1]: health check commands run as written, templates are not filled in; "
        "write the value out",
        "16:64: apps.db.health[0].within: 0s leaves no time to become healthy; give the app at least 1s",
        "25:26: hooks[0].prompt: unknown template variable 'python'; available: app, group, mode, operation, "
        "recovery_point, runbook, site, target",
        "26:39: hooks[1].env.A-B: 'A-B' is not an environment variable name; use letters, digits and '_', "
        "not starting with a digit",
    ],
}
# What `standby validate FILE` exits with, where it is not 1.
EXIT = {"warnings": 0, "not-a-runbook": 2, "list-not-a-mapping": 2, "empty-file": 2}


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


@pytest.mark.parametrize("case", ["yaml-syntax-error", "duplicate-key", "alias-bomb", "deep-nesting"])
def test_syntax_issues_are_syntax(case: str) -> None:
    _, issues = check(INVALID / f"{case}.yaml")
    assert {issue.category for issue in issues} == {"syntax"}


@pytest.mark.parametrize("case", ["empty-file", "not-a-runbook", "list-not-a-mapping"])
def test_files_that_are_no_runbook_say_so(case: str) -> None:
    runbook, issues = check(INVALID / f"{case}.yaml")
    assert runbook is None
    assert {issue.category for issue in issues} == {"file"}


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
        "2:15: sites.a: YAML syntax error: an alias refers to a node that contains it; a runbook cannot be recursive",
    ),
    "app-without-a-mapping": (
        MINIMAL.replace('    machines: [app1]\n    depends_on: [db]\n    start: [./api, --port, "{{ port }}"]\n', ""),
        "16:7: apps.api: expected a mapping of keys to values, got nothing",
    ),
    "number-as-a-key": (
        MINIMAL.replace("  db1: {}", "  1: {}").replace("machines: [db1]", 'machines: ["1"]'),
        "10:3: machines.1: YAML reads the key '1' as a number; quote it (\"1\") to use it as a name",
    ),
    "word-as-a-value": (
        MINIMAL.replace("runbook: minimal", "runbook: no"),
        "2:10: runbook: expected a string, got 'no', which YAML reads as true/false (quote it to keep the word)",
    ),
    "port-as-text": (
        MINIMAL.replace("{provider: local, port_base: 18100}", '{provider: local, port_base: "18100"}'),
        "5:36: sites.dr.port_base: expected a integer, got a string '18100'",
    ),
    "nul-in-an-argument": (
        MINIMAL.replace('start: [./db, --port, "{{ port }}"]', 'start: [./db, "a\\0b"]'),
        "15:19: apps.db.start[1]: a string 'a\x00b' is not valid: an argument cannot hold a NUL character",
    ),
    "two-documents": (
        MINIMAL + "---\nrunbook: other\n",
        "23:1: (document): a runbook file holds one YAML document; remove this '---' and what follows",
    ),
    "unknown-alias": (
        MINIMAL.replace("machines: [db1]", "machines: *db"),
        "14:15: apps.db.machines: YAML syntax error: unknown alias '*db'; define '&db' before it",
    ),
    "alias-of-a-key": (
        MINIMAL.replace("runbook: minimal", "&name runbook: minimal\n*name : again"),
        "3:1: runbook: duplicate key 'runbook' (first at line 2); remove one of them",
    ),
    "unknown-tag": (
        MINIMAL.replace("  db1: {}", "  db1: !machine {}"),
        "10:8: machines.db1: YAML tag '!machine' is not used in runbooks; remove it",
    ),
    "bad-date": (
        MINIMAL.replace("runbook: minimal", "runbook: 2024-13-45"),
        "2:10: runbook: YAML reads '2024-13-45' as a date, but it is not one; quote it",
    ),
    "control-character": (
        MINIMAL.replace("runbook: minimal", "runbook: min\x07imal"),
        "2:13: (document): YAML syntax error: character #x0007 is not allowed (control characters are not "
        "allowed); remove it",
    ),
    "zero-period": (
        MINIMAL.replace("{provider: local, port_base: 18100}", "{provider: local, port_base: 18100, "
                                                             "replication_interval: 0}"),
        "5:65: sites.dr.replication_interval: a period of 0s repeats without pause; give a positive duration, e.g. 1s",
    ),
    "too-long-a-duration": (
        MINIMAL.replace("    machines: [db1]\n", "    machines: [db1]\n    rto: 1.0e+400\n"),
        "15:10: apps.db.rto: inf seconds is longer than 3650d, the longest duration a runbook may give",
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


def test_cli_validate_missing_file_is_not_a_runbook() -> None:
    result = run("validate", "tests/runbooks/no-such-runbook.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith("tests/runbooks/no-such-runbook.yaml:1:1: (document): cannot read the file:")


@pytest.mark.parametrize("case", invalid_fixtures())
def test_cli_exits_with_the_fixture_code_and_never_a_traceback(case: str) -> None:
    result = run("validate", f"{INVALID / case}.yaml")
    assert result.exit_code == EXIT.get(case, 1)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[:-1] == expected_lines(case)


def test_cli_warnings_pass_and_print_apart_from_errors() -> None:
    result = run("validate", str(INVALID / "warnings.yaml"))
    assert result.exit_code == 0
    assert result.stdout == f"{INVALID / 'warnings.yaml'}: ok (runbook minimal: 3 machines, 2 apps, 2 groups)\n"
    assert all(": warning: " in line for line in result.stderr.splitlines()[:-1])
    assert result.stderr.splitlines()[-1] == "4 warning(s); --strict makes warnings fail"


def test_cli_strict_makes_warnings_fail() -> None:
    result = run("validate", "--strict", str(INVALID / "warnings.yaml"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [*expected_lines("warnings"), "4 warning(s)"]


def test_cli_strict_passes_a_runbook_without_warnings() -> None:
    result = run("validate", "--strict", str(VALID / "minimal.yaml"))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{VALID / 'minimal.yaml'}: {MINIMAL_OK}\n"


def test_cli_counts_errors_and_warnings_apart() -> None:
    result = run("validate", str(INVALID / "warnings.yaml"), str(INVALID / "unknown-dependency.yaml"))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "5 issue(s) found: 1 error(s), 4 warning(s)"


def test_cli_a_file_that_is_no_runbook_wins_over_errors() -> None:
    result = run("validate", str(INVALID / "unknown-dependency.yaml"), str(INVALID / "not-a-runbook.yaml"))
    assert result.exit_code == 2


def test_plan_of_a_file_that_is_no_runbook_exits_2() -> None:
    result = run("plan", str(INVALID / "not-a-runbook.yaml"))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == expected_lines("not-a-runbook")


def test_load_ignores_warnings() -> None:
    runbook = load(INVALID / "warnings.yaml")
    assert list(runbook.machines) == ["db1", "app1", "spare1"]
