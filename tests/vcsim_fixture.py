"""vcsim for the vSphere tests: govmomi's vCenter simulator (tests/vcsim/main.go) built with Debian's Go and govmomi.

The binary is built once in GOPATH mode and cached under ~/.cache/standby/vcsim/<hash of the source and Go>,
so later runs start it in milliseconds. A session fixture serves one simulated vCenter on 127.0.0.1 over
plain HTTP; each test takes datacenters nobody else uses and makes its own VMs and port groups there.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

SOURCE = Path(__file__).resolve().parent / "vcsim" / "main.go"
GOVMOMI = Path("/usr/share/gocode/src/github.com/vmware/govmomi")
USER, PASSWORD = "standby-svc", "vcsim-secret"
DATACENTERS = 64
IN_CI = os.environ.get("CI") == "true"


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def vcsim_binary() -> Path:
    """The simulator, built on first use and cached by the hash of its source and of the Go toolchain."""
    go = shutil.which("go")
    if go is None:
        _unavailable("'go' is not installed (Debian's golang-go; scripts/install --test installs it)")
    if not (GOVMOMI / "simulator").is_dir():
        _unavailable(f"govmomi sources missing at {GOVMOMI} (Debian's golang-github-vmware-govmomi-dev)")
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256(SOURCE.read_bytes() + version.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "standby" / "vcsim" / digest
    binary = cache / "vcsim"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as gopath:
            env = {**os.environ, "GO111MODULE": "off", "GOPATH": f"/usr/share/gocode:{gopath}"}
            partial = cache / f"vcsim.{os.getpid()}"
            built = subprocess.run(
                [go, "build", "-o", str(partial), str(SOURCE)],
                cwd=SOURCE.parent,
                env=env,
                capture_output=True,
                text=True,
            )
            if built.returncode != 0:
                pytest.fail(f"building vcsim failed:\n{built.stderr}")
            os.replace(partial, binary)
    return binary


class Vcsim:
    """One running simulator and an administrator's connection to shape its inventory."""

    def __init__(self, *args: str, scratch: Path):
        env = {**os.environ, "TMPDIR": str(scratch)}
        self.process = subprocess.Popen(
            [str(vcsim_binary()), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(scratch / "vcsim.log", "w"),  # noqa: SIM115  # the simulator writes to it while it runs
            env=env,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            self.process.kill()
            pytest.fail("vcsim exited before serving")
        started = json.loads(line)
        self.url, self.cafile = started["url"], started["cafile"]
        scheme_host = self.url.split("://", 1)[1].split("/", 1)[0]
        self.host, self.port = scheme_host.rsplit(":", 1)[0], int(scheme_host.rsplit(":", 1)[1])
        self.protocol = self.url.split("://", 1)[0]
        self._free = (f"DC{n}" for n in itertools.count())
        self._admin = None

    def stop(self) -> None:
        """Close stdin (the simulator exits and removes its datastore folders), then make sure."""
        if self._admin is not None:
            Disconnect(self._admin)
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def admin(self) -> vim.ServiceContent:
        """The administrator's view of the simulated vCenter."""
        if self._admin is None:
            context = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
            self._admin = SmartConnect(
                protocol=self.protocol, host=self.host, port=self.port, user=USER, pwd=PASSWORD, sslContext=context
            )
        return self._admin.content

    def datacenter(self) -> str:
        """The name of a datacenter no other test uses (cluster DC<n>_C0 of 3 hosts, LocalDS_0 and LocalDS_1)."""
        name = next(self._free)
        if int(name[2:]) >= DATACENTERS:
            raise RuntimeError("every simulated datacenter is taken; raise DATACENTERS")
        return name

    def site(self, datacenter: str, **extra: object) -> dict:
        """A runbook site on this simulator."""
        return {
            "provider": "vsphere",
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "datacenter": datacenter,
            "cluster": f"{datacenter}_C0",
            **extra,
        }

    def find(self, datacenter: str, kind: type, name: str):
        """An inventory object of the datacenter by type and name (None when there is none)."""
        dc = self._dc(datacenter)
        view = self.admin.viewManager.CreateContainerView(dc, [kind], True)
        try:
            return next((o for o in view.view if o.name == name), None)
        finally:
            view.Destroy()

    def _dc(self, datacenter: str) -> vim.Datacenter:
        return next(
            d for d in self.admin.rootFolder.childEntity if isinstance(d, vim.Datacenter) and d.name == datacenter
        )

    def add_portgroup(self, datacenter: str, name: str) -> None:
        """A distributed port group on the datacenter's switch."""
        switch = self.find(datacenter, vim.DistributedVirtualSwitch, "DVS0")
        wait(
            switch.AddDVPortgroup_Task([vim.dvs.DistributedVirtualPortgroup.ConfigSpec(name=name, type="earlyBinding")])
        )

    def create_vm(
        self,
        datacenter: str,
        name: str,
        network: str,
        power_on: bool = False,
        memory_mb: int = 1024,
        host: str | None = None,
        guest_id: str = "otherLinux64Guest",
    ) -> vim.VirtualMachine:
        """A VM with one NIC on `network`, in the datacenter's cluster."""
        dc = self._dc(datacenter)
        cluster = self.find(datacenter, vim.ClusterComputeResource, f"{datacenter}_C0")
        portgroup = self.find(datacenter, vim.dvs.DistributedVirtualPortgroup, network)
        nic = vim.vm.device.VirtualVmxnet3(
            key=-1,
            backing=vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
                port=vim.dvs.PortConnection(
                    portgroupKey=portgroup.key, switchUuid=portgroup.config.distributedVirtualSwitch.uuid
                )
            ),
        )
        spec = vim.vm.ConfigSpec(
            name=name,
            guestId=guest_id,
            memoryMB=memory_mb,
            numCPUs=1,
            files=vim.vm.FileInfo(vmPathName="[LocalDS_0]"),
            deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="add", device=nic)],
        )
        target = self.find(datacenter, vim.HostSystem, host) if host else None
        vm = wait(dc.vmFolder.CreateVM_Task(config=spec, pool=cluster.resourcePool, host=target))
        if power_on:
            wait(vm.PowerOnVM_Task())
        return vm

    def inject(self, vm: vim.VirtualMachine | vim.vm.Snapshot, method: str, fault: str, count: int = 1) -> None:
        """The next `count` calls of `method` on the VM (or snapshot) fail with a vSphere `fault`."""
        base = self.url.rsplit("/sdk", 1)[0]
        kind = "snapshot" if isinstance(vm, vim.vm.Snapshot) else "vm"
        query = f"{kind}={vm._moId}&method={method}&fault={fault}&count={count}"
        urllib.request.urlopen(urllib.request.Request(f"{base}/standby/fault?{query}", method="POST"), timeout=5)

    def calls(self) -> dict[str, int]:
        """How many calls of each PropertyCollector method the simulator has served so far; `<method>@Task` counts
        those about Task objects (tests/vcsim/main.go)."""
        base = self.url.rsplit("/sdk", 1)[0]
        with urllib.request.urlopen(f"{base}/standby/calls", timeout=5) as answer:
            return json.loads(answer.read())


def wait(task: vim.Task):
    """Wait for an administrator's task; its result."""
    while task.info.state in (vim.TaskInfo.State.queued, vim.TaskInfo.State.running):
        time.sleep(0.02)
    if task.info.state == vim.TaskInfo.State.error:
        raise task.info.error
    return task.info.result


def network_of(vm: vim.VirtualMachine) -> list[str]:
    """The port groups a VM's NICs are on."""
    return sorted(n.name for n in vm.network)


def all_snapshots(vm: vim.VirtualMachine) -> list[str]:
    """Names of every snapshot of a VM."""
    content = vm._stub and vim.ServiceInstance("ServiceInstance", vm._stub).content
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=vm)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.VirtualMachine, pathSet=["snapshot"])],
    )
    found = content.propertyCollector.RetrieveContents([spec])
    info = found[0].propSet[0].val if found and found[0].propSet else None
    names, pending = [], list(info.rootSnapshotList) if info else []
    while pending:
        node = pending.pop()
        pending.extend(node.childSnapshotList or [])
        names.append(node.name)
    return sorted(names)


def standby_snapshots(vm: vim.VirtualMachine) -> list[str]:
    """Names of Standby's snapshots of a VM."""
    return [n for n in all_snapshots(vm) if n.startswith("standby-")]


@pytest.fixture(scope="session")
def vcsim(tmp_path_factory) -> Vcsim:
    """One simulated vCenter (HTTP, user standby-svc) for the whole session."""
    server = Vcsim(
        "-dc", str(DATACENTERS), "-username", USER, "-password", PASSWORD, scratch=tmp_path_factory.mktemp("vcsim")
    )
    yield server
    server.stop()


@pytest.fixture
def vsphere_env(monkeypatch) -> None:
    """The worker's vCenter credentials, from its environment as in production."""
    monkeypatch.setenv("VSPHERE_USER", USER)
    monkeypatch.setenv("VSPHERE_PASSWORD", PASSWORD)


@pytest.fixture(scope="module")
def vcsim_tls(tmp_path_factory) -> Vcsim:
    """A second simulated vCenter, over HTTPS with a self-signed certificate (its PEM in `cafile`)."""
    server = Vcsim(
        "-tls", "-dc", "1", "-username", USER, "-password", PASSWORD, scratch=tmp_path_factory.mktemp("vcsim-tls")
    )
    yield server
    server.stop()
