"""The typed runbook: what a DR engineer declares, validated key by key.

Credentials never appear here: sites name where to connect, the worker's
environment says who connects. Cross-references (apps -> machines, groups ->
apps, hooks -> groups) are checked by `standby.semantics`, which knows where each
key stands in the file.
"""

from datetime import timedelta
from ipaddress import IPv4Address
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic import Strict as StrictType
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from standby.durations import Duration, Period, format_duration


def _program_given(argv: list[str]) -> list[str]:
    if not argv[0].strip():
        message = "the program is empty; write the command first, e.g. [./check.sh, --quick]"
        raise PydanticCustomError("empty_program", message)
    return argv


Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)]
# The program comes first and must be there; later arguments may be empty strings, never hold a NUL (exec refuses it).
Argv = Annotated[
    list[Annotated[str, Field(pattern=r"^[^\x00]*$")]],
    Field(min_length=1, json_schema_extra={"prefixItems": [{"type": "string", "pattern": "\\S"}]}),
    AfterValidator(_program_given),
]
# Strict: `port: yes` or `port: "80"` is a mistake, not the number 1 or 80.
Port = Annotated[int, StrictType(), Field(ge=1, le=65535)]
Operation = Literal["drill", "failover", "failback", "return", "switchover"]
OPERATIONS: tuple[Operation, ...] = ("drill", "failover", "failback", "return", "switchover")


class Strict(BaseModel):
    """Base of every runbook section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalSite(Strict):
    """Real processes and folders on this host; the embedded default."""

    provider: Literal["local"]
    port_base: Port = Field(18000, description="first port of the site's machines")
    test_port_base: Port | None = Field(None, description="first port of drill targets (port_base + 500 if unset)")
    replication_interval: Period = Field(timedelta(seconds=1), description="pause between replication passes")

    def test_ports_from(self) -> int:
        """First port of isolated drill targets."""
        return self.test_port_base or self.port_base + 500


class AwsSite(Strict):
    """An AWS region driven through Elastic Disaster Recovery, EC2, Route 53 and SSM."""

    provider: Literal["aws"]
    region: str
    profile: str | None = Field(None, description="a profile of the worker's AWS configuration")
    account: str | None = Field(None, description="the expected account id; a mismatch is refused")
    replication_software_url: str | None = Field(
        None, description="where the Failback Client downloads the replication software (default: the region's DRS bucket)")


class VsphereSite(Strict):
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


Site = Annotated[LocalSite | AwsSite | VsphereSite, Field(discriminator="provider")]


class RecoveryPoints(Strict):
    """Retention of point-in-time recovery points, as AWS DRS keeps them."""

    every_10m_for: Duration = timedelta(hours=1)
    hourly_for: Duration = timedelta(hours=24)
    daily_for: Duration = timedelta(days=30)


class Protection(Strict):
    """Which site replicates to which, and what a failover requires."""

    source: Name
    target: Name
    recovery_points: RecoveryPoints = RecoveryPoints()
    tested_within: Duration | None = Field(None, description="failover needs a passing drill this recent")


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


class MachineAt(Strict):
    """A machine at one site (vSphere): its VM there and how it is re-addressed when recovered there."""

    vm: str | None = Field(None, description="VM name, instance UUID or moid at that site (default: source_id)")
    ip: GuestIp | None = Field(None, description="guest IP customization applied when recovered there")


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
        "ec2", description="AWS: an EC2 instance (failback by reverse replication) or a server outside AWS (Failback Client)")
    failback: FailbackClient | None = None
    at: dict[Name, MachineAt] = Field({}, description="vSphere: the machine's VM and address at each site")

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


class HealthCheck(Strict):
    """One probe of an app's health; exactly one of tcp, http or command."""

    tcp: TcpCheck | None = None
    http: HttpCheck | None = None
    command: CommandCheck | None = None
    timeout: Duration = timedelta(seconds=5)
    within: Duration = Field(timedelta(minutes=2), description="how long the app may take to become healthy")

    @model_validator(mode="after")
    def _exactly_one(self) -> "HealthCheck":
        given = [kind for kind in ("tcp", "http", "command") if getattr(self, kind) is not None]
        if not given:
            raise ValueError("a health check needs one of tcp, http or command")
        if len(given) > 1:
            raise ValueError(f"a health check has one of tcp, http or command, not {' and '.join(given)}; "
                             "write one check for each")
        return self


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
    depends_on: list[Name] = []
    health: list[HealthCheck] = []
    endpoint: Endpoint | None = None
    start: Argv | None = Field(None, description="local provider: argv that starts one machine")
    stop: Argv | None = Field(None, description="local provider: argv that stops it (default SIGTERM)")
    stop_timeout: Duration = timedelta(seconds=10)
    rto: Duration | None = Field(None, description="recovery time objective")
    rpo: Duration | None = Field(None, description="recovery point objective")


class Group(Strict):
    """A priority group: recovered in order, stopped in reverse order."""

    name: Name
    apps: Annotated[list[Name], Field(min_length=1)]


HookPoint = Annotated[
    str,
    Field(
        pattern=r"^(before|after|(before_group|after_group):.+|(pre_launch|post_launch):.+)$",
        description="before, after, before_group:G, after_group:G, pre_launch:APP or post_launch:APP",
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


class RemediationAction(Strict):
    """A VMware remediation step; exactly one of restart_vm, reset_vm, vmotion, storage_vmotion."""

    restart_vm: VmTarget | None = None
    reset_vm: VmTarget | None = None
    vmotion: VmotionTarget | None = None
    storage_vmotion: StorageVmotionTarget | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "RemediationAction":
        if len(self.given()) != 1:
            raise ValueError("an action is exactly one of restart_vm, reset_vm, vmotion, storage_vmotion")
        return self

    def given(self) -> list[str]:
        """The names of the actions set."""
        return [k for k in ("restart_vm", "reset_vm", "vmotion", "storage_vmotion") if getattr(self, k) is not None]

    @property
    def kind(self) -> str:
        """restart_vm, reset_vm, vmotion or storage_vmotion."""
        return self.given()[0]

    @property
    def target(self) -> VmTarget:
        """The VM (and its settings) the action acts on."""
        return getattr(self, self.kind)


class Hook(Strict):
    """An SRM-style step: a command (argv, never a shell string), a prompt, or a remediation action."""

    at: HookPoint
    run: Argv | None = None
    prompt: str | None = None
    action: RemediationAction | None = None
    operations: list[Operation] = Field(list(OPERATIONS), description="operations the hook runs in")
    timeout: Duration = timedelta(minutes=5)
    retries: Annotated[int, Field(ge=0, le=20)] = 0
    on_failure: Literal["abort", "continue", "prompt"] = "abort"
    env: dict[str, str] = {}

    @model_validator(mode="after")
    def _run_or_prompt(self) -> "Hook":
        given = [k for k in ("run", "prompt", "action") if getattr(self, k) is not None]
        if not given:
            raise ValueError("a hook needs 'run' (a command argv) or 'prompt' (a question for the operator)")
        if given == ["run", "prompt"]:
            raise ValueError("a hook has 'run' (a command) or 'prompt' (a question), not both; write two hooks")
        if len(given) > 1:
            raise ValueError(f"a hook has one of 'run', 'prompt' or 'action', not {' and '.join(given)}; write two hooks")
        return self

    @property
    def kind(self) -> str:
        """Where the hook attaches: before, after, before_group, ..."""
        return self.at.split(":", 1)[0]

    @property
    def subject(self) -> str | None:
        """The group or app named after the colon, if any."""
        return self.at.split(":", 1)[1] if ":" in self.at else None


class AccessRule(Strict):
    """Who may approve an operation: members of an LDAP group, or named users."""

    ldap_group: str | None = None
    users: list[str] = []


class Pair(Strict):
    """A continuity pair or trio: one active node, passives kept in sync."""

    primary: Name
    secondary: Name
    tertiary: Name | None = None
    apps: Annotated[list[Name], Field(min_length=1)]
    heartbeat_interval: Period = timedelta(seconds=1)
    missed_heartbeats: Annotated[int, Field(ge=1)] = 5
    failover: Literal["automatic", "managed"] = "managed"

    def nodes(self) -> list[str]:
        """Sites of the pair in identity order: primary, secondary, tertiary."""
        return [n for n in (self.primary, self.secondary, self.tertiary) if n]


class Drill(Strict):
    """How drills behave."""

    keep_for: Duration = Field(timedelta(minutes=10), description="drill targets stay up this long unless finished")


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
    access: dict[Operation, AccessRule] = {}
    pairs: dict[Name, Pair] = {}
    drill: Drill = Drill()

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The runbook JSON Schema, with defaults spelt as in runbooks."""
        kwargs.setdefault("schema_generator", RunbookJsonSchema)
        return super().model_json_schema(*args, **kwargs)

    def group_of(self, app: str) -> str:
        """The priority group an app recovers in."""
        return next(g.name for g in self.groups if app in g.apps)

    def site(self, name: str) -> LocalSite | AwsSite | VsphereSite:
        """A site by name."""
        return self.sites[name]
