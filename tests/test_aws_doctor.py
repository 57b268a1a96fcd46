"""`standby doctor` on the aws-shop runbook: STS, EC2, SSM and Route 53 from moto's server, DRS scripted behind a
Stubber (no emulator exists) for the direct checks, and absent (moto has no DRS) for the CLI run.
"""

import json

from click.testing import CliRunner

from activities.sites.aws import doctor
from standby.cli import main
from standby.contracts.sites import site_ref
from standby.loader import load
from tests.aws_drs_fake import Fault
from tests.aws_support import REGIONS, Backends
from tests.test_aws_shop import prepare


def lines(found) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.ok, c.detail) for c in found}


def test_every_check_passes_for_a_site_that_allows_what_the_runbook_needs(aws, tmp_path):
    backends = Backends(aws)
    path, _ = prepare(backends, tmp_path, 1, 1)
    runbook = load(path)
    dr = lines(doctor.checks(site_ref(runbook, "dr"), runbook, backends.clients[REGIONS[1]]))
    assert all(ok for ok, _ in dr.values()), [(k, v) for k, v in dr.items() if not v[0]]
    assert dr["identity"][1] == "arn:aws:sts::123456789012:user/moto (account 123456789012)"
    assert dr["source servers"] == (True, "all 4 source servers found")
    zone = runbook.apps["db"].endpoint.zone
    assert dr[f"route53 zone {zone}"] == (True, f"{zone} is shop.example.org")
    source = lines(doctor.checks(site_ref(runbook, "source"), runbook, backends.clients[REGIONS[0]]))
    assert source["tagged source instances"] == (True, "3 EC2 source machines tagged")
    assert "source servers" not in source


def test_a_denied_call_and_a_missing_server_name_what_to_fix(aws, tmp_path):
    backends = Backends(aws)
    path, _ = prepare(backends, tmp_path, 1, 1)
    del backends.world.servers["s-1234567890abcdef2"]
    denied = Fault("AccessDeniedException", "not authorized to perform drs:DescribeJobs", 403)
    backends.world.faults["DescribeJobs"] = [denied]
    runbook = load(path)
    dr = lines(doctor.checks(site_ref(runbook, "dr"), runbook, backends.clients[REGIONS[1]]))
    assert dr["drs:DescribeJobs"] == (False, "AccessDeniedException: not authorized to perform drs:DescribeJobs; "
                                             "allow drs:DescribeJobs")
    assert dr["source servers"] == (False, "not in DRS of eu-west-1: app2 (s-1234567890abcdef2)")
    assert dr["drs:DescribeSourceServers"][0] and dr["ec2:DescribeInstances"][0]


def test_credentials_of_another_account_stop_the_checks_at_the_identity(aws, tmp_path):
    backends = Backends(aws)
    path, _ = prepare(backends, tmp_path, 1, 1)
    text = path.read_text().replace('"123456789012"', '"210987654321"')
    path.write_text(text.replace("'123456789012'", "'210987654321'"))
    runbook = load(path)
    found = doctor.checks(site_ref(runbook, "dr"), runbook, backends.clients[REGIONS[1]])
    assert [(c.name, c.ok) for c in found] == [("identity", False)]
    assert "account 123456789012" in found[0].detail and "expects 210987654321" in found[0].detail


def test_the_cli_prints_what_is_missing_and_exits_1(aws, tmp_path):
    backends = Backends(aws)
    path, _ = prepare(backends, tmp_path, 1, 1)
    result = CliRunner().invoke(main, ["doctor", str(path), "--site", "dr", "--json"])
    assert result.exit_code == 1, result.output
    # moto's server thread prints its own complaints about DRS to the swapped stdout before the report.
    report = result.stdout[result.stdout.index("[\n  {"):]
    found = {c["check"]: c for c in json.loads(report)}
    assert found["identity"]["ok"] and found["ec2:DescribeInstances"]["ok"]
    assert not found["drs:DescribeSourceServers"]["ok"], "moto has no DRS: the worker cannot call it"
    table = CliRunner().invoke(main, ["doctor", str(path), "--site", "dr"], terminal_width=200)
    assert table.exit_code == 1 and "MISSING" in table.stdout and "checks failed" in table.stderr
    assert CliRunner().invoke(main, ["doctor", str(path), "--site", "nowhere"]).exit_code == 2
