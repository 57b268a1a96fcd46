"""The typed runbook: what a DR engineer declares, validated key by key.

Credentials never appear here: sites name where to connect, the worker's
environment says who connects. Cross-references (apps -> machines, groups ->
apps, hooks -> groups) are checked by `standby.semantics`, which knows where each
key stands in the file.
"""

import re
from collections.abc import Callable
from datetime import timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    Tag,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic import Strict as StrictType
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema

from standby.continuity import Pair
from standby.decoded import PAYLOAD, RUNBOOKS
from standby.durations import Duration, Period, format_duration
from standby.runbook_base import Argv, Name, Port, Strict, empty
from standby.warm import Warm

Operation = Literal["drill", "failover", "failback", "return", "switchover"]
OPERATIONS: tuple[Operation, ...] = ("drill", "failover", "failback", "return", "switchover")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


DnsName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?\.?$", max_length=254)]
IpAddress = IPv4Address | IPv6Address
TsigAlgorithm = Literal["hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1"]


class DnsServer(Strict):
    """An authoritative name server, by address: a failover must not depend on a resolver to find it."""

    address: IpAddress
    port: Port = 53


class DnsIdentity(Strict):
    """RFC 2136: the site moves the apps' records by dynamic updates, signed with a TSIG key.

    The key's secret is never in the runbook: the worker reads it, base64, from `secret_variable()`.
    """

    server: IpAddress = Field(description="the primary name server that takes the updates, by address")
    port: Port = 53
    zone: DnsName = Field(description="the zone the apps' endpoint names are in")
    tsig_key: DnsName = Field(description="TSIG key name; its base64 secret is in the worker's STANDBY_TSIG_<NAME>")
    tsig_algorithm: TsigAlgorithm = "hmac-sha256"
    addresses: list[IpAddress] = Field([], description="what an app's record points to when it serves here (a VIP "
                                       "or load balancer); default: local 127.0.0.1, vSphere each machine's "
                                       "at.<site>.ip.address, else its guest IP")
    wait_for: list[DnsServer] = Field([], description="secondaries that must answer the new addresses too "
                                      "(the server itself always must)")
    # 90s: inside the identity activity's 2-minute timeout, with room for the update itself.
    wait: Duration = Field(timedelta(seconds=90), description="how long the name servers may take to answer them")

    def secret_variable(self) -> str:
        """`STANDBY_TSIG_STANDBY_DR` for key `standby-dr.`: the name upper-cased, other characters as `_`."""
        return "STANDBY_TSIG_" + re.sub(r"[^A-Z0-9]", "_", self.tsig_key.rstrip(".").upper())


class SiteSettings(Strict):
    """Base of every site's settings: what a plan or a workflow asks of a site without naming its provider."""

    def needs_failback_client(self, machine: "Machine") -> bool:
        """Whether failing `machine` back from this site runs the Failback Client on it; no, unless overridden."""
        return False


class LocalSite(SiteSettings):
    """Real processes and folders on this host; the embedded default."""

    provider: Literal["local"]
    port_base: Port = Field(18000, description="first port of the site's machines")
    test_port_base: Port | None = Field(None, description="first port of drill targets (port_base + 500 if unset)")
    replication_interval: Period = Field(timedelta(seconds=1), description="pause between replication passes")
    dns: DnsIdentity | None = Field(None, description="move the apps' DNS records here by RFC 2136 updates")
    path: str | None = Field(None, description="absolute folder on this host that holds the site's machines, recovery "
                             "points, pid files and endpoint routes, the same for every worker (default: "
                             "<worker state folder>/runbooks/<runbook>/sites/<site>)")

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        # a relative path would resolve against each worker's own folder, and workers would disagree
        if value is not None and not value.startswith("/"):
            raise ValueError(f"path '{value}' is relative; give an absolute folder that every worker of the "
                             "runbook sees, such as /srv/standby/dr")
        return value

    def test_ports_from(self) -> int:
        """First port of isolated drill targets."""
        return self.test_port_base or self.port_base + 500


class DrillBlueprint(Strict):
    """AWS: where a site's drill instances launch, apart from production (their own launch template version)."""

    subnet: str | None = Field(None, description="a subnet of an isolated VPC for drill instances (default: the "
                                                 "blueprint's)")
    security_groups: list[str] = Field([], description="security groups of drill instances (default: the blueprint's)")
    public_ip: bool = Field(False, description="whether drill instances get a public IP address")


class AwsSite(SiteSettings):
    """An AWS region driven through Elastic Disaster Recovery, EC2, Route 53 and SSM."""

    provider: Literal["aws"]
    region: str
    profile: str | None = Field(None, description="a profile of the worker's AWS configuration")
    account: str | None = Field(None, description="the expected account id; a mismatch is refused")
    replication_software_url: str | None = Field(
        None, description="where the Failback Client downloads the replication software "
        "(default: the region's DRS bucket)")
    drill: DrillBlueprint | None = Field(None, description="drill instances launch here, never in production's network")

    def needs_failback_client(self, machine: "Machine") -> bool:
        """A machine outside AWS comes back from its recovery instance through the Failback Client."""
        return machine.source == "onprem"


class VsphereSite(SiteSettings):
    """A vCenter driven through pyvmomi."""

    provider: Literal["vsphere"]
    host: str
    datacenter: str
    cluster: str | None = None
    port: Port = 443
    insecure: bool = Field(False, description="skip TLS certificate verification (lab vCenters only)")
    credentials_file: str | None = Field(None, description="worker-side file with user and password")
    isolated_network: str | None = Field(None, description="port group drill clones attach to")
    protocol: Literal["https", "http"] = Field("https", description="http only for the vcsim simulator")
    ca_file: str | None = Field(None, description="worker-side PEM file that verifies the vCenter's certificate")
    resource_pool: str | None = Field(None, description="pool (path under the cluster) for drill clones")
    folder: str | None = Field(None, description="VM folder (path under the datacenter) for drill clones")
    datastore: str | None = Field(None, description="datastore for drill clones (default: the replica's)")
    networks: dict[str, str] = Field({}, description="port group mapping on recovery: other site's -> this site's")
    snapshot_interval: Period = Field(timedelta(minutes=10), description="how often Protect snapshots replicas")
    dns: DnsIdentity | None = Field(None, description="move the apps' DNS records here by RFC 2136 updates")


SingleSite = Annotated[LocalSite | AwsSite | VsphereSite, Field(discriminator="provider")]


class MixedSite(SiteSettings):
    """A place that holds several providers (a vCenter and local services, an AWS region and local services).

    Each machine names the one that holds it there, in `machines.<m>.at.<site>.provider`; the site's worker serves
    them all. standby.holders resolves a machine to its provider.
    """

    provider: Literal["mixed"]
    providers: Annotated[dict[Name, SingleSite], Field(min_length=2, description=(
        "the providers of this place by a name of your choice, each as a site of its own kind is written"))]


Site = Annotated[LocalSite | AwsSite | VsphereSite | MixedSite, Field(discriminator="provider")]


class RecoveryPoints(Strict):
    """Retention of point-in-time recovery points, as AWS DRS keeps them."""

    every_10m_for: Duration = timedelta(hours=1)
    hourly_for: Duration = timedelta(hours=24)
    daily_for: Duration = timedelta(days=30)
    every_pass_for: Duration = Field(timedelta(0), description=(
        "keep every point this young, a journal of every replication pass to fail over to any of them (default none)"))


class Protection(Strict):
    """Which site replicates to which, and what a failover requires."""

    source: Name
    target: Name
    recovery_points: RecoveryPoints = RecoveryPoints()
    tested_within: Duration | None = Field(None, description="failover needs a passing drill this recent")
    stop_deadline: Duration = Field(timedelta(minutes=2), description=(
        "how long a failover tries to stop the source; past it, what still runs is fenced and the failover goes on"))


class Blueprint(Strict):
    """How a machine is launched at the recovery site."""

    machine_type: str | None = None
    launch_type: Literal["on-demand", "dedicated-instance", "dedicated-host"] = "on-demand"
    host: str | None = Field(None, description="the dedicated host, for launch_type dedicated-host")
    subnet: str | None = None
    security_groups: list[str] = []
    private_ip: IPv4Address | None = None
    post_launch: list[Argv] = Field([], description="AWS: commands run on the launched instance through SSM, in order")

    @model_validator(mode="after")
    def _host_matches_launch_type(self) -> "Blueprint":
        if self.launch_type == "dedicated-host" and not self.host:
            raise ValueError("launch_type dedicated-host needs 'host': the dedicated host to launch on")
        if self.host and self.launch_type != "dedicated-host":
            raise ValueError("'host' is only used with launch_type: dedicated-host")
        return self


class GuestIp(Strict):
    """A fixed IPv4 address given to a VM's first NIC by guest customization (vSphere)."""

    address: IPv4Address
    prefix: Annotated[int, Field(ge=1, le=32)] = 24
    gateway: IPv4Address | None = None
    dns: list[IPv4Address] = []
    domain: str = Field("localdomain", description="DNS domain the guest is customized with")


class WindowsIdentity(Strict):
    """How Sysprep names a Windows guest recovered at a site; passwords come from the worker's environment only."""

    computer_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,15}$")] | None = Field(
        None, description="NetBIOS name, 15 characters at most (default: the machine's name)")
    workgroup: str | None = Field(None, description="the workgroup it joins (WORKGROUP unless a domain is given)")
    domain: str | None = Field(None, description="the Active Directory domain it joins")
    domain_user: str | None = Field(None, description="the account that joins it to the domain")
    domain_password: "FromEnv | None" = Field(None, description="that account's password, from the worker")
    admin_password: "FromEnv" = Field(
        default_factory=lambda: FromEnv(from_env="STANDBY_WINDOWS_ADMIN_PASSWORD"),
        description="the local Administrator's password, from the worker's environment")
    time_zone: Annotated[int, Field(ge=0, le=300)] = Field(85, description="Windows time zone index (85: GMT)")
    organization: str = "Standby"

    @model_validator(mode="after")
    def _workgroup_or_domain(self) -> "WindowsIdentity":
        if self.workgroup and self.domain:
            raise ValueError("a Windows guest joins a workgroup or a domain, not both: remove one")
        if self.domain and not (self.domain_user and self.domain_password):
            raise ValueError("joining a domain needs domain_user and domain_password ({from_env: VARIABLE})")
        return self


class MachineAt(Strict):
    """A machine at one site: the provider holding it (mixed sites); its VM there and how it is re-addressed when
    recovered there (vSphere)."""

    vm: str | None = Field(None, description="VM name, instance UUID or moid at that site (default: source_id)")
    ip: GuestIp | None = Field(None, description="guest IP customization applied when recovered there")
    guest_os: Literal["linux", "windows"] | None = Field(
        None, description="customize as this guest (default: Windows when the VM's guestId starts with 'win')")
    windows: WindowsIdentity | None = Field(None, description="Sysprep identity of a Windows guest recovered there")
    provider: Name | None = Field(None, description="at a mixed site: which of its providers holds the machine")


class FailbackClient(Strict):
    """AWS: how the Failback Client brings a machine that runs outside AWS back from its recovery instance."""

    instance: str | None = Field(None, description="recovery instance to fail back from (detected when unset)")
    volumes: dict[str, str] = Field({}, description="recovery instance device -> local device (same names when unset)")
    address: str | None = Field(None, description="the machine's address once failed back")
    replication_host: str | None = Field(None, description="replication endpoint (default: the recovery instance)")
    replication_port: Port = 1500
    task_queue: str | None = Field(None, description="task queue of a worker on the machine (default: Standby's)")


class Machine(Strict):
    """A protected machine: its id at the provider and its launch blueprint."""

    source_id: str | None = Field(None, description="provider id: DRS source server, VM name or UUID")
    blueprint: Blueprint | None = None
    source: Literal["ec2", "onprem"] = Field(
        "ec2", description="AWS: an EC2 instance (failback by reverse replication) or a server outside AWS "
        "(Failback Client)")
    failback: FailbackClient | None = None
    at: dict[Name, MachineAt] = empty(dict, "the machine at each vSphere or mixed site: its VM, its address, the "
                                      "provider holding it")

    @model_validator(mode="after")
    def _failback_is_onprem(self) -> "Machine":
        if self.failback is not None and self.source != "onprem":
            raise ValueError("'failback' configures the Failback Client, used with source: onprem only")
        return self


class TcpCheck(Strict):
    """Healthy when a TCP connection opens."""

    port: Port | None = Field(None, description="defaults to the app's port")
    host: str | None = None


class HttpCheck(Strict):
    """Healthy when an HTTP GET answers the expected status."""

    path: str = "/"
    expect: Annotated[int, Field(ge=100, le=599)] = 200
    port: Port | None = None
    host: str | None = None


class CommandCheck(Strict):
    """Healthy when a command exits 0."""

    run: Argv


class Probe(Strict):
    """What every health check has: how long one probe may take, how long the app may take to pass."""

    timeout: Duration = timedelta(seconds=5)
    within: Duration = Field(timedelta(minutes=2), description="how long the app may take to become healthy")


class TcpHealth(Probe):
    """Healthy when a TCP connection opens."""

    tcp: TcpCheck

    def describe(self) -> str:
        """`tcp :5432` as the plan prints it."""
        return f"tcp {self.tcp.host or ''}:{self.tcp.port or 'app port'}"


class HttpHealth(Probe):
    """Healthy when an HTTP GET answers the expected status."""

    http: HttpCheck

    def describe(self) -> str:
        """`http GET /health -> 200` as the plan prints it."""
        return f"http GET {self.http.path} -> {self.http.expect}"


class CommandHealth(Probe):
    """Healthy when a command exits 0."""

    command: CommandCheck

    def describe(self) -> str:
        """The command as the plan prints it."""
        return "command " + " ".join(self.command.run)


def _one_key(kinds: tuple[str, ...], what: str, fix: str) -> Callable[[Any], Any]:
    """A before-validator: a mapping names exactly one of `kinds`; the message says which and how to fix it."""

    def check(value: Any) -> Any:
        if isinstance(value, dict):
            given = [kind for kind in kinds if kind in value]
            if not given:
                raise ValueError(f"{what} needs one of {_either(kinds)}")
            if len(given) > 1:
                raise ValueError(f"{what} has one of {_either(kinds)}, not {' and '.join(given)}; {fix}")
        return value

    return check


def _either(kinds: tuple[str, ...]) -> str:
    named = [f"'{kind}'" + (f" ({_MEANING[kind]})" if kind in _MEANING else "") for kind in kinds]
    return ", ".join(named[:-1]) + f" or {named[-1]}"


_MEANING = {"run": "a command argv", "prompt": "a question for the operator", "action": "a VMware remediation"}


def _key_tag(kinds: tuple[str, ...]) -> Callable[[Any], str | None]:
    """The discriminator of a union whose members differ by which key they have: the tag is `with-<key>`, never
    the key itself, so that an error's location (which carries the tag) is not read as the key twice."""

    def tag(value: Any) -> str | None:
        if isinstance(value, dict):
            return next((f"with-{kind}" for kind in kinds if kind in value), None)
        return next((f"with-{kind}" for kind in kinds if hasattr(value, kind)), None)

    return tag


HEALTH_KINDS = ("tcp", "http", "command")
HealthCheck = Annotated[
    Annotated[TcpHealth, Tag("with-tcp")] | Annotated[HttpHealth, Tag("with-http")]
    | Annotated[CommandHealth, Tag("with-command")],
    Discriminator(_key_tag(HEALTH_KINDS)),
    BeforeValidator(_one_key(HEALTH_KINDS, "a health check", "write one check for each")),
]


class Endpoint(Strict):
    """An app's network identity: a DNS record (cloud) or a stable public port (local)."""

    name: str
    ttl: Duration = timedelta(seconds=60)
    zone: str | None = Field(None, description="Route 53 hosted zone id")
    port: Port | None = Field(None, description="public port on 127.0.0.1 (local provider)")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: object) -> object:
        return {"name": value} if isinstance(value, str) else value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The mapping, or the DNS name alone as `_from_name` accepts it."""
        return {"anyOf": [{"type": "string", "description": "the record name alone"}, handler(core_schema)]}


class App(Strict):
    """Machines that serve one purpose and recover together."""

    machines: Annotated[list[Name], Field(min_length=1)]
    depends_on: list[Name] = empty(list)
    health: list[HealthCheck] = empty(list)
    endpoint: Endpoint | None = None
    start: Argv | None = Field(None, description="local provider: argv that starts one machine")
    stop: Argv | None = Field(None, description="local provider: argv that stops it (default SIGTERM)")
    stop_timeout: Duration = timedelta(seconds=10)
    rto: Duration | None = Field(None, description="recovery time objective")
    rpo: Duration | None = Field(None, description="recovery point objective")
    warm: Warm | None = Field(None, description="local provider: how a switchover readies the app at its target "
                              "before the source stops (standby.warm); every app has it, or none")


class Group(Strict):
    """A priority group: recovered in order, stopped in reverse order."""

    name: Name
    apps: Annotated[list[Name], Field(min_length=1)]


HookPoint = Annotated[
    str,
    Field(
        pattern=r"^(before|after|on_alert|(before_group|after_group):.+|(pre_launch|post_launch):.+)$",
        description="before, after, before_group:G, after_group:G, pre_launch:APP, post_launch:APP, or on_alert "
                    "(a command run when something needs an operator, e.g. a scheduled drill failed)",
    ),
]


class VmTarget(Strict):
    """A VM of a vSphere site: by name, instance UUID or managed object ID."""

    vm: str
    site: Name | None = Field(None, description="the vSphere site (default: the site the operation recovers to)")


class VmotionTarget(VmTarget):
    """A VM to move to a host: the named one, or the least-loaded host of the site's cluster."""

    host: str | None = None


class StorageVmotionTarget(VmTarget):
    """A VM to move to a datastore."""

    datastore: str


class RestartVm(Strict):
    """Guest shutdown, then power on, as VMware HA restarts a VM."""

    restart_vm: VmTarget

    @property
    def target(self) -> VmTarget:
        """The VM the action acts on."""
        return self.restart_vm


class ResetVm(Strict):
    """A hard reset of a VM."""

    reset_vm: VmTarget

    @property
    def target(self) -> VmTarget:
        """The VM the action acts on."""
        return self.reset_vm


class Vmotion(Strict):
    """Move a running VM to another host."""

    vmotion: VmotionTarget

    @property
    def target(self) -> VmotionTarget:
        """The VM the action acts on, and the host it moves to."""
        return self.vmotion


class StorageVmotion(Strict):
    """Move a VM's disks to another datastore."""

    storage_vmotion: StorageVmotionTarget

    @property
    def target(self) -> StorageVmotionTarget:
        """The VM the action acts on, and the datastore it moves to."""
        return self.storage_vmotion


ACTION_KINDS = ("restart_vm", "reset_vm", "vmotion", "storage_vmotion")
RemediationAction = Annotated[
    Annotated[RestartVm, Tag("with-restart_vm")] | Annotated[ResetVm, Tag("with-reset_vm")]
    | Annotated[Vmotion, Tag("with-vmotion")] | Annotated[StorageVmotion, Tag("with-storage_vmotion")],
    Discriminator(_key_tag(ACTION_KINDS)),
    BeforeValidator(_one_key(ACTION_KINDS, "an action", "write one hook for each")),
]


def action_kind(action: RestartVm | ResetVm | Vmotion | StorageVmotion) -> str:
    """restart_vm, reset_vm, vmotion or storage_vmotion."""
    return next(kind for kind in ACTION_KINDS if hasattr(action, kind))


class FromEnv(Strict):
    """A value the worker reads from its own environment when the step runs; it never enters an input or result."""

    from_env: str = Field(description="a variable of the worker's environment",
                          json_schema_extra={"pattern": _ENV_NAME.pattern})

    @field_validator("from_env")
    @classmethod
    def _a_variable_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(f"'{value}' is not a variable name: letters, digits and '_', not starting with a digit")
        return value


def _env_kind(value: Any) -> str | None:
    """Which kind of hook env value this is; None (an error) for neither."""
    if isinstance(value, str):
        return "str"
    return "FromEnv" if isinstance(value, (dict, FromEnv)) else None


EnvValue = Annotated[
    Annotated[str, Tag("str")] | Annotated[FromEnv, Tag("FromEnv")],
    Discriminator(_env_kind, custom_error_type="env_value",
                  custom_error_message="expected a string or {from_env: VARIABLE}"),
]


class HookAt(Strict):
    """What every hook has: where it attaches and in which operations it runs."""

    at: HookPoint
    operations: list[Operation] = Field(list(OPERATIONS), description="operations the hook runs in")

    @property
    def point(self) -> str:
        """Where the hook attaches: before, after, before_group, ..."""
        return self.at.split(":", 1)[0]

    @property
    def subject(self) -> str | None:
        """The group or app named after the colon, if any."""
        return self.at.split(":", 1)[1] if ":" in self.at else None


class CommandHook(HookAt):
    """An SRM-style command step: an argv run on the worker, never a shell string."""

    run: Argv
    timeout: Duration = timedelta(minutes=5)
    retries: Annotated[int, StrictType(), Field(ge=0, le=20)] = 0
    on_failure: Literal["abort", "continue", "prompt"] = "abort"
    env: dict[str, EnvValue] = Field({}, description="a literal (a template) or {from_env: VAR} of the worker")

    def describe(self) -> str:
        """The argv as written (templates unrendered)."""
        return " ".join(self.run)


class PromptHook(HookAt):
    """An SRM-style prompt step: the operation waits until an operator continues it."""

    prompt: str

    def describe(self) -> str:
        """The question as written."""
        return self.prompt


class ActionHook(HookAt):
    """A VMware remediation step: restart, reset, vMotion or Storage vMotion a VM."""

    action: RemediationAction
    timeout: Duration = timedelta(minutes=5)
    retries: Annotated[int, StrictType(), Field(ge=0, le=20)] = 0
    on_failure: Literal["abort", "continue", "prompt"] = "abort"

    def describe(self) -> str:
        """`vmotion erp-app-01 on dr`."""
        target = self.action.target
        return f"{action_kind(self.action)} {target.vm}" + (f" on {target.site}" if target.site else "")


HOOK_KINDS = ("run", "prompt", "action")
Hook = Annotated[
    Annotated[CommandHook, Tag("with-run")] | Annotated[PromptHook, Tag("with-prompt")]
    | Annotated[ActionHook, Tag("with-action")],
    Discriminator(_key_tag(HOOK_KINDS)),
    BeforeValidator(_one_key(HOOK_KINDS, "a hook", "write one hook for each")),
]


Gate = Literal["request", "approve", "continue", "abort", "force", "skip_approval", "pause", "resume"]
GATES: tuple[Gate, ...] = ("request", "approve", "continue", "abort", "force", "skip_approval", "pause", "resume")
# The gates of `access.protect`: the protect monitor's maintenance mode, `standby protect pause|resume`.
MONITOR_GATES: tuple[Gate, ...] = ("pause", "resume")


class Grant(Strict):
    """Who may pass one gate: members of any of the groups (nested groups included), or the users named."""

    groups: list[str] = Field([], description="group DNs, or bare group names (cn)")
    users: list[str] = Field([], description="directory usernames")


class AccessRule(Strict):
    """Who may request, approve, continue, abort, force or skip the approval of one operation.

    Request, continue and abort fall back to approve's grant; force and skip_approval belong to nobody unless
    granted. `ldap_group` and `users` are the older spelling of an approve grant and add to it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    request: Grant | None = None
    approve: Grant | None = None
    continue_: Grant | None = Field(None, alias="continue", description="who may answer the operation's prompts")
    abort: Grant | None = None
    force: Grant | None = Field(None, description="who may skip the preconditions (--force)")
    skip_approval: Grant | None = Field(None, description="who may start without a second person's approval (--yes)")
    four_eyes: bool = Field(False, description="the approver is never the requester")
    ldap_group: str | None = Field(None, description="older spelling of approve: {groups: [GROUP]}")
    users: list[str] = Field([], description="older spelling of approve: {users: [...]}")
    pause: Grant | None = Field(None, description="access.protect only: who may pause the protect monitor")
    resume: Grant | None = Field(None, description="access.protect only: who may resume it; default: pause's grant")

    def grant(self, gate: Gate) -> Grant:
        """Who may pass the gate."""
        own: Grant | None = getattr(self, "continue_" if gate == "continue" else gate)
        if gate == "resume" and own is None and self.pause is not None:
            return self.pause
        if gate in ("force", "skip_approval"):
            return own or Grant()
        if own is not None and gate != "approve":
            return own
        approve = self.approve or Grant()
        return Grant(groups=[*approve.groups, *([self.ldap_group] if self.ldap_group else [])],
                     users=[*approve.users, *self.users])


class DirectoryBind(Strict):
    """The account that searches groups: its DN, and the worker variable that holds its password."""

    dn: str
    password: FromEnv


class Directory(Strict):
    """The LDAP server (OpenLDAP or Active Directory) that proves operators and holds their groups.

    Passwords never stand here: an operator's comes sealed from the CLI, the search account's from the worker's
    environment.
    """

    url: Annotated[str, Field(pattern=r"^ldaps?://[^/\s]+/?$", description="ldap://host:389 or ldaps://host:636")]
    kind: Literal["openldap", "active_directory"] = "openldap"
    base_dn: str = Field(description="where people are searched, and groups unless group_base is set")
    user: str = Field(description="what a person binds as, {username} filled in: a DN such as "
                      "'uid={username},ou=people,dc=example,dc=org' or, for AD, '{username}@corp.example.org'")
    user_filter: str | None = Field(None, description="finds the person's entry; default (uid={username}), "
                                    "or (sAMAccountName={username}) for AD")
    group_base: str | None = None
    search_bind: DirectoryBind | None = Field(None, description="searches groups; default: the person's own bind")
    start_tls: bool = False
    ca_file: str | None = Field(None, description="CA bundle on the worker for ldaps:// or start_tls")
    timeout: Duration = timedelta(seconds=10)

    @field_validator("user", "user_filter")
    @classmethod
    def _names_the_username(cls, value: str | None) -> str | None:
        if value is not None and "{username}" not in value:
            raise ValueError(f"'{value}' has no {{username}}: write where the person's name goes")
        return value


class Drill(Strict):
    """How drills behave."""

    keep_for: Duration = Field(timedelta(minutes=10), description="drill targets stay up this long unless finished")


def _gates_in_place(access: dict[str, AccessRule]) -> dict[str, AccessRule]:
    """Pause and resume belong to `access.protect`, the operations' gates to the operations."""
    wrong = [f"access.{key}.{gate}" for key, rule in access.items() for gate in MONITOR_GATES
             if key != "protect" and getattr(rule, gate) is not None]
    wrong += [f"access.protect.{'continue' if gate == 'continue_' else gate}" for gate in
              ("request", "continue_", "abort", "force", "skip_approval") if "protect" in access
              and getattr(access["protect"], gate) is not None]
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: pause and resume are gates of access.protect only, and "
                         "access.protect has no other (approve, ldap_group or users there grant both)")
    return access


class RunbookJsonSchema(GenerateJsonSchema):
    """JSON Schema whose defaults read as a runbook writes them: `1m`, not pydantic's ISO 8601 `PT1M`."""

    def encode_default(self, dft: Any) -> Any:
        """Durations as `5m`; model defaults through their own JSON serializers."""
        if isinstance(dft, timedelta):
            return format_duration(dft)
        if isinstance(dft, BaseModel):
            return dft.model_dump(mode="json")
        return super().encode_default(dft)


class Runbook(Strict):
    """A whole runbook: sites, machines, apps, groups, hooks, access."""

    runbook: Name
    description: str = ""
    sites: Annotated[dict[Name, Site], Field(min_length=2)]
    protection: Protection
    machines: Annotated[dict[Name, Machine], Field(min_length=1)]
    apps: Annotated[dict[Name, App], Field(min_length=1)]
    groups: Annotated[list[Group], Field(min_length=1)]
    hooks: list[Hook] = []
    access: Annotated[dict[Operation | Literal["protect"], AccessRule], AfterValidator(_gates_in_place)] = Field(
        {}, description="who may act: per operation, and `protect` for pausing and resuming the protect monitor")
    directory: Directory | None = None
    pairs: dict[Name, Pair] = {}
    drill: Drill = Drill()

    @model_validator(mode="wrap")
    @classmethod
    def _decoded_once(cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        """From a payload, the model this process already decoded from the same runbook (standby.decoded)."""
        if info.context == PAYLOAD and isinstance(data, dict):
            return RUNBOOKS.get(data, handler)
        return handler(data)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The runbook JSON Schema, with defaults spelt as in runbooks."""
        kwargs.setdefault("schema_generator", RunbookJsonSchema)
        return super().model_json_schema(*args, **kwargs)

    def group_of(self, app: str) -> str:
        """The priority group an app recovers in."""
        return next(g.name for g in self.groups if app in g.apps)

    def site(self, name: str) -> LocalSite | AwsSite | VsphereSite | MixedSite:
        """A site by name."""
        return self.sites[name]
