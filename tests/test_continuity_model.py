"""The runbook's pairs: heartbeats, witnesses, monitor and rules, validated in place with the fix in the message."""

from pathlib import Path

import pytest

from standby.continuity import Rule, split_address
from standby.converter import DATA_CONVERTER
from standby.loader import check, load

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = (ROOT / "tests" / "runbooks" / "valid" / "minimal.yaml").read_text(encoding="utf-8")

CASES = {
    "earlier-heartbeat-fields": (
        "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db]\n    heartbeat_interval: 2s\n",
        ["25:5: pairs.p: 'heartbeat_interval' is now heartbeat: {interval: ...} (see runbooks/vsphere-erp.yaml)"],
    ),
    "four-witnesses": (
        "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db]\n"
        "    witnesses: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3, 127.0.0.1:4]\n",
        ["28:16: pairs.p.witnesses: list should have at most 3 items after validation, not 4"],
    ),
    "witness-without-port": (
        "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db]\n    witnesses: [router:99999]\n",
        ["28:17: pairs.p.witnesses[0]: 'router:99999' is not host:port (a port from 1 to 65535), "
         "e.g. 127.0.0.1:19001"],
    ),
    "rule-with-both-bounds": (
        "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db]\n"
        "    monitor: {rules: [{metric: cpu, above: 1, below: 2}]}\n",
        ["28:23: pairs.p.monitor.rules[0]: a rule has one of 'above' or 'below', the threshold the metric must pass"],
    ),
    "unknown-app-and-site": (
        "pairs:\n  p:\n    primary: primary\n    secondary: drr\n    apps: [dbb]\n",
        ["26:16: pairs.p.secondary: unknown site 'drr' (did you mean 'dr'?)",
         "27:12: pairs.p.apps[0]: unknown app 'dbb' (did you mean 'db'?)"],
    ),
    "app-in-two-pairs": (
        "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db]\n"
        "  q:\n    primary: primary\n    secondary: dr\n    apps: [db]\n",
        ["31:12: pairs.q.apps[0]: app 'db' is already in pair 'p'; an app is in one pair"],
    ),
    "automatic-without-heartbeats": (
        "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db]\n    failover: automatic\n",
        ["24:3: pairs.p: pair 'p' has witnesses or automatic failover but no heartbeat.listen addresses "
         "to hear its sites by"],
    ),
    "heartbeat-addresses": (
        "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db]\n"
        "    heartbeat: {listen: {primary: 127.0.0.1:5, dx: 127.0.0.1:5}}\n    witnesses: [127.0.0.1:5]\n",
        ["28:25: pairs.p.heartbeat.listen: site 'dr' of pair 'p' has no heartbeat address; "
         "add 'dr: 127.0.0.1:PORT' (where its worker hears heartbeats)",
         "28:25: pairs.p.heartbeat.listen: two sites share a heartbeat address; give each its own port",
         "28:52: pairs.p.heartbeat.listen.dx: site 'dx' is not a node of pair 'p' (primary, dr); "
         "remove it or add it to the pair",
         "29:17: pairs.p.witnesses[0]: witness 127.0.0.1:5 is a heartbeat address of the pair; "
         "a witness is on another path"],
    ),
    "alert-template": (
        "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db]\n    on_alert: [notify, '{{ evnt }}']\n",
        ["28:24: pairs.p.on_alert[1]: unknown template variable 'evnt' (did you mean 'event'?)"],
    ),
    "pair-off-the-protected-sites": (
        "pairs:\n  p:\n    primary: primary\n    secondary: primary2\n    apps: [db]\n",
        ["26:16: pairs.p.secondary: pair 'p' is primary and primary2, but protection replicates primary -> dr; "
         "name those two sites"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pair_issues_are_located_with_their_fix(case: str, tmp_path: Path) -> None:
    text, expected = CASES[case]
    extra = "sites:\n  primary2: {provider: local, port_base: 18200}\n"
    body = MINIMAL.replace("sites:\n", extra) if "primary2" in text else MINIMAL
    path = tmp_path / f"{case}.yaml"
    path.write_text(body + text, encoding="utf-8")
    _, issues = check(path)
    offset = 1 if "primary2" in text else 0
    assert [str(issue) for issue in sorted(issues)] == [_shifted(f"{path}:{line}", path, offset) for line in expected]


def _shifted(line: str, path: Path, offset: int) -> str:
    """Expected lines count from the minimal runbook; one more site moves them down by `offset`."""
    if not offset:
        return line
    number, rest = line.removeprefix(f"{path}:").split(":", 1)
    return f"{path}:{int(number) + offset}:{rest}"


def test_a_pair_with_heartbeats_witnesses_and_a_monitor_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text(MINIMAL + "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db, api]\n"
                    "    failover: automatic\n    heartbeat: {listen: {primary: 127.0.0.1:19001, dr: '[::1]:19002'}}\n"
                    "    witnesses: [127.0.0.1:19100]\n    monitor: {interval: 1s, rules: [{metric: latency, "
                    "above: 0.5, for: 10s, action: restart}]}\n", encoding="utf-8")
    pair = load(path).pairs["p"]
    assert (pair.heartbeat.interval.total_seconds(), pair.heartbeat.missed, pair.heartbeat.lost_after().seconds) == (
        1, 3, 3)
    assert split_address(pair.heartbeat.listen["dr"]) == ("::1", 19002)
    assert pair.monitor is not None and (pair.monitor.threshold, pair.monitor.restart.times, pair.monitor.then) == (
        2, 2, "switchover")
    rule = pair.monitor.rules[0]
    assert rule.describe() == "latency above 0.5 for 10s" and rule.breached(0.6) and not rule.breached(0.5)


def test_a_rule_crosses_the_workflow_boundary_intact() -> None:
    """`for` is written in runbooks, `for_` in payloads: both decode to the same rule."""
    rule = Rule.model_validate({"metric": "disk", "below": 10, "for": "1m", "action": "alert"})
    converter = DATA_CONVERTER.payload_converter
    assert converter.from_payloads(converter.to_payloads([rule]), [Rule]) == [rule]


def test_cpu_rules_need_local_sites(tmp_path: Path) -> None:
    text = MINIMAL.replace("  dr: {provider: local, port_base: 18100}", "  dr: {provider: aws, region: eu-west-1}")
    path = tmp_path / "aws.yaml"
    path.write_text(text + "pairs:\n  p:\n    primary: primary\n    secondary: dr\n    apps: [db]\n"
                    "    monitor: {rules: [{metric: cpu, above: 90}]}\n", encoding="utf-8")
    _, issues = check(path)
    assert [issue.message for issue in issues] == [
        "cpu is read from the app's processes on local sites; dr is not local: use metric latency there"]
