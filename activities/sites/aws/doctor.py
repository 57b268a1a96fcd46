"""`standby doctor` for an AWS site: who the worker is there, and whether it may call what the runbook needs.

Only read calls are tried (STS identity, the DRS describe calls, EC2 and SSM describes, the Route 53 zones): the
calls that act (StartRecovery, ReverseReplication, ChangeResourceRecordSets, ...) would change the site. Each
failed line names the IAM action to allow.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from botocore.config import Config

from activities.sites.aws.clients import AwsClients
from activities.sites.aws.drs import MACHINE, RUNBOOK
from activities.sites.aws.errors import SDK_ERRORS, code_of
from activities.sites.base import Check
from standby.contracts.sites import SiteRef
from standby.runbook import AwsSite, Runbook

# A doctor answers in seconds: one try per call, short timeouts.
DOCTOR_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=15)


DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException",
          "AuthorizationError"}


def _why(error: Exception) -> str:
    code = code_of(error) if hasattr(error, "response") else type(error).__name__
    message = getattr(error, "response", {}).get("Error", {}).get("Message", "") if hasattr(error, "response") else ""
    return f"{code}: {message or error}"


class _Doctor:
    def __init__(self, site: SiteRef, runbook: Runbook, clients: AwsClients):
        self.site, self.runbook, self.clients = site, runbook, clients
        self.found: list[Check] = []

    def check(self, name: str, action: str, call: Callable[[], str | None]) -> bool:
        """One line: `call` returns what it found (or raises); `action` is the IAM action to allow on failure."""
        try:
            detail = call()
        except SDK_ERRORS as error:
            hint = f"; allow {action}" if hasattr(error, "response") and code_of(error) in DENIED else ""
            self.found.append(Check(self.site.name, name, False, _why(error) + hint))
            return False
        except ValueError as error:
            self.found.append(Check(self.site.name, name, False, str(error)))
            return False
        self.found.append(Check(self.site.name, name, True, detail or "allowed"))
        return True

    def identity(self) -> str:
        who = self.clients.sts.get_caller_identity()
        expected = self.site.config.account  # type: ignore[union-attr]
        if expected and who["Account"] != expected:
            raise ValueError(f"credentials of account {who['Account']} ({who['Arn']}); the runbook expects {expected}")
        return f"{who['Arn']} (account {who['Account']})"

    def source_servers(self) -> str:
        wanted = {n: m.source_id for n, m in self.runbook.machines.items() if m.source_id}
        found = {s["sourceServerID"] for s in self.clients.drs.describe_source_servers(
            filters={"sourceServerIDs": sorted(set(wanted.values()))[:200]})["items"]}
        missing = [f"{n} ({i})" for n, i in wanted.items() if i not in found]
        if missing:
            region = self.site.config.region  # type: ignore[union-attr]
            raise ValueError(f"not in DRS of {region}: {', '.join(missing)}")
        return f"all {len(wanted)} source servers found"

    def tagged_sources(self) -> str:
        machines = [n for n, m in self.runbook.machines.items() if m.source == "ec2"]
        pages = self.clients.ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": f"tag:{RUNBOOK}", "Values": [self.runbook.runbook]}])
        tagged = {t["Value"] for p in pages for r in p["Reservations"] for i in r["Instances"]
                  for t in i.get("Tags", []) if t["Key"] == MACHINE}
        missing = [m for m in machines if m not in tagged]
        if missing:
            raise ValueError(f"no EC2 instance tagged {RUNBOOK}={self.runbook.runbook}, {MACHINE}=<machine> for "
                             f"{', '.join(missing)}: Standby cannot stop them at failover or fail them back")
        return f"{len(machines)} EC2 source machines tagged"

    def drill_isolation(self) -> str:
        drill = self.site.config.drill  # type: ignore[union-attr]
        where = f"sites.{self.site.name}.drill.subnet"
        if drill is None or not drill.subnet:
            raise ValueError(f"drill instances launch in the production subnets: set {where} to a subnet of a VPC "
                             "apart from production")
        production = {n: m.blueprint.subnet for n, m in self.runbook.machines.items()
                      if m.blueprint and m.blueprint.subnet}
        shared = sorted(n for n, subnet in production.items() if subnet == drill.subnet)
        if shared:
            raise ValueError(f"{where} {drill.subnet} is the production subnet of {', '.join(shared)}")
        ids = sorted({drill.subnet, *production.values()})
        vpcs = {s["SubnetId"]: s["VpcId"] for s in self.clients.ec2.describe_subnets(SubnetIds=ids)["Subnets"]}
        near = sorted(n for n, subnet in production.items() if vpcs[subnet] == vpcs[drill.subnet])
        if near:
            raise ValueError(f"{where} {drill.subnet} is in {vpcs[drill.subnet]}, the VPC of production "
                             f"({', '.join(near)}): use a VPC of its own")
        return f"drill subnet {drill.subnet} in {vpcs[drill.subnet]}, apart from production"

    def zone(self, zone: str) -> str:
        name = self.clients.route53.get_hosted_zone(Id=zone)["HostedZone"]["Name"].rstrip(".")
        outside = [a.endpoint.name for a in self.runbook.apps.values()
                   if a.endpoint and a.endpoint.zone == zone and not a.endpoint.name.rstrip(".").endswith(name)]
        if outside:
            raise ValueError(f"{', '.join(outside)} not in zone {name} ({zone})")
        return f"{zone} is {name}"


def checks(site: SiteRef, runbook: Runbook, clients: AwsClients | None = None) -> list[Check]:
    """Every check of one AWS site of the runbook."""
    assert isinstance(site.config, AwsSite)
    try:
        clients = clients or AwsClients.connect(site.config, DOCTOR_CONFIG)
    except SDK_ERRORS as error:
        return [Check(site.name, "credentials", False, _why(error))]
    doctor = _Doctor(site, runbook, clients)
    if not doctor.check("identity", "sts:GetCallerIdentity", doctor.identity):
        return doctor.found
    for operation, action in (("describe_source_servers", "DescribeSourceServers"),
                              ("describe_recovery_instances", "DescribeRecoveryInstances"),
                              ("describe_jobs", "DescribeJobs")):
        doctor.check(f"drs:{action}", f"drs:{action}", partial(_list_one, clients.drs, operation))
    if site.name == runbook.protection.target:
        doctor.check("source servers", "drs:DescribeSourceServers", doctor.source_servers)
        doctor.check("drill isolation", "ec2:DescribeSubnets", doctor.drill_isolation)
    doctor.check("ec2:DescribeInstances", "ec2:DescribeInstances",
                 lambda: _ok(clients.ec2.describe_instances(MaxResults=5)))
    if site.name == runbook.protection.source and any(m.source == "ec2" for m in runbook.machines.values()):
        doctor.check("tagged source instances", "ec2:DescribeInstances", doctor.tagged_sources)
    if any(m.blueprint and m.blueprint.post_launch for m in runbook.machines.values()):
        doctor.check("ssm:ListCommands", "ssm:ListCommands", lambda: _ok(clients.ssm.list_commands(MaxResults=5)))
    for zone in sorted({a.endpoint.zone for a in runbook.apps.values() if a.endpoint and a.endpoint.zone}):
        doctor.check(f"route53 zone {zone}", "route53:GetHostedZone", partial(doctor.zone, zone))
    return doctor.found


def _ok(_: Any) -> None:
    return None


def _list_one(client: Any, operation: str) -> None:
    """One item of a describe call: the call proves the permission, what it returns does not matter."""
    getattr(client, operation)(maxResults=1)
