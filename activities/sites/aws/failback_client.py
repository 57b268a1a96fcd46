"""The Failback Client's steps for a machine outside AWS, each one activity the Temporal UI shows.

They run on a worker beside the machine being failed back (its `failback.task_queue`, else Standby's own queue).
The installation token (`ACCESS_KEY_ID:SECRET_ACCESS_KEY` of the DRS failback installation user) comes from that
worker's environment, `STANDBY_INSTALLATION_TOKEN`: it never enters a workflow input, result or history, nor a
file, nor the installer's arguments or environment (`installer.py`). The download, the HTTPS check and the
connection on port 1500 reuse `download` and `check_connectivity`.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import ssl
import stat
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.sites.base import PermanentProviderError, ProviderError
from activities.sites.registry import Providers
from standby.contracts import names
from standby.contracts.failback import TOKEN_ENV, ConfigureInput, Detected, Disk, FailbackStep, VolumesInput
from standby.contracts.sites import MachineReplication, SiteRef

T = TypeVar("T")
INSTALLER_LOG = "installer.log"


async def _mapped(work: Awaitable[T]) -> T:
    try:
        return await work
    except PermanentProviderError as error:
        raise ApplicationError(str(error), type=type(error).__name__, non_retryable=True) from None
    except ProviderError as error:
        raise ApplicationError(str(error), type=type(error).__name__) from None


def _refuse(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def device_size(path: str) -> int:
    """Bytes of a block device or image file, read by seeking to its end."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "a folder, not a device or image file")
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def volume_issues(detected: Detected, mapping: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The device map (recovery volume -> local device) and every reason to refuse it; the first disk is the root."""
    chosen, issues = {}, []
    for index, disk in enumerate(detected.disks):
        local, what = mapping.get(disk.device, disk.device), "root volume" if index == 0 else "volume"
        try:
            size = device_size(local)
        except FileNotFoundError:
            issues.append(f"missing {what}: {disk.device} ({disk.bytes} bytes) has no local device {local}; "
                          f"map it under failback.volumes")
            continue
        except OSError as error:
            issues.append(f"cannot read local device {local} for {what} {disk.device}: {error.strerror or error}")
            continue
        if size < disk.bytes:
            issues.append(f"size mismatch: {what} {disk.device} is {disk.bytes} bytes, local device {local} only "
                          f"{size}; map a device at least as large")
        chosen[disk.device] = local
    if not detected.disks:
        issues.append(f"recovery instance {detected.instance} reports no volumes (missing root volume)")
    return chosen, issues


class FailbackClientActivities:
    """The Failback Client's activities; DRS calls go through the DRS site's provider."""

    def __init__(self, providers: Providers, state_dir: Path):
        self.providers = providers
        self.state_dir = state_dir

    def _provider(self, site: SiteRef):
        provider = self.providers.for_site(site)
        if not hasattr(provider, "peer"):
            raise _refuse(f"the Failback Client needs an AWS site, not {site.config.provider} [site={site.name}]",
                          "NotAws")
        return provider

    @activity.defn(name=names.FAILBACK_AUTHENTICATE)
    async def authenticate(self, step: FailbackStep) -> str:
        """Who the installation token from this worker's environment is, checked against the site's account."""
        from activities.sites.aws.clients import installation_identity

        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise _refuse(f"no installation token: set {TOKEN_ENV} in the environment of the worker beside "
                          f"{step.machine.name} (never in a runbook or workflow input)", "NoInstallationToken")
        who = await _mapped(asyncio.to_thread(installation_identity, token, step.dr.config))  # type: ignore[arg-type]
        account = getattr(step.dr.config, "account", None)
        if account and who["account"] != account:
            raise _refuse(f"the installation token belongs to account {who['account']}, site {step.dr.name} is "
                          f"account {account}", "WrongAccount")
        return f"{who['arn']} (account {who['account']})"

    @activity.defn(name=names.FAILBACK_DETECT)
    async def detect(self, step: FailbackStep) -> Detected:
        """The recovery instance to fail back from (the runbook's, or detected from DRS) and its volumes."""
        from activities.sites.aws import failback, instances

        provider = self._provider(step.dr)
        instance = await _mapped(failback.recovery_instance(provider.api, step.machine))
        ident = instance["recoveryInstanceID"]
        found = await _mapped(instances.by_ids(provider.api, [instance.get("ec2InstanceID") or ident]))
        disks = [Disk(device=d["internalDeviceName"], bytes=int(d.get("bytes", 0)))
                 for d in (instance.get("recoveryInstanceProperties") or {}).get("disks", [])]
        workdir = self.state_dir / "failback" / step.runbook / step.machine.name
        workdir.mkdir(parents=True, exist_ok=True)
        address = next((instances.address(i) for i in found.values()), None)
        return Detected(instance=ident, address=address, disks=disks, workdir=str(workdir))

    @activity.defn(name=names.FAILBACK_MAP_VOLUMES)
    async def map_volumes(self, inp: VolumesInput) -> dict[str, str]:
        """Recovery volume -> local device; refuses a missing root volume, an unreadable device, a size mismatch."""
        config = inp.step.machine.config.failback
        chosen, issues = await asyncio.to_thread(volume_issues, inp.detected, dict(config.volumes) if config else {})
        if issues:
            raise _refuse(f"cannot map the volumes of {inp.step.machine.name}: " + "; ".join(issues), "VolumeMapping")
        return chosen

    @activity.defn(name=names.FAILBACK_CONFIGURE)
    async def configure(self, inp: ConfigureInput) -> str:
        """Make the downloaded installer executable and write what it is installed with (no secret) beside it."""
        from activities.sites.aws.clients import service_endpoint

        workdir, package = Path(inp.detected.workdir), Path(inp.package)
        package.chmod(package.stat().st_mode | 0o700)
        host, port, _ = service_endpoint(inp.step.dr.config.region)  # type: ignore[union-attr]
        config = {"machine": inp.step.machine.name, "region": inp.step.dr.config.region,  # type: ignore[union-attr]
                  "recovery_instance": inp.detected.instance, "volumes": inp.volumes, "endpoint": f"{host}:{port}",
                  "software": str(package), "installer_log": str(workdir / INSTALLER_LOG)}
        path = workdir / "replication.json"
        path.write_text(json.dumps(config, indent=2))
        return str(path)

    @activity.defn(name=names.FAILBACK_INSTALL)
    async def install(self, inp: ConfigureInput) -> str:
        """Run the installer unattended (region, devices, the token on its standard input); exit code and log decide.

        A failed attempt is retried by the caller's policy; an installer that cannot be started at all is not.
        """
        from activities.sites.aws import installer

        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise _refuse(f"no installation token: set {TOKEN_ENV} in this worker's environment", "NoInstallationToken")
        region = inp.step.dr.config.region  # type: ignore[union-attr]
        devices = [inp.volumes[d.device] for d in inp.detected.disks if d.device in inp.volumes]
        argv = installer.arguments(inp.package, region, devices)
        log = Path(inp.detected.workdir) / INSTALLER_LOG
        attempt = activity.info().attempt
        try:
            code, output = await installer.run(argv, installer.credentials(token), log, attempt)
        except OSError as error:
            raise _refuse(f"cannot run the installer {inp.package} of {inp.step.machine.name}: "
                          f"{error.strerror or error}", "InstallerNotRunnable") from None
        failed = installer.verdict(code, output, token)
        if failed:
            raise ApplicationError(f"the installer of {inp.step.machine.name} {failed} (attempt {attempt}, log {log})",
                                   type="InstallFailed")
        return f"installed in {region} for {', '.join(devices) or 'no devices'} (attempt {attempt}, log {log})"

    @activity.defn(name=names.FAILBACK_VERIFY_ENDPOINT)
    async def verify_endpoint(self, step: FailbackStep) -> str:
        """Reach the DRS service endpoint over HTTPS (443); unreachable is retried by the caller's policy."""
        from activities.sites.aws.clients import service_endpoint

        host, port, scheme = service_endpoint(step.dr.config.region)  # type: ignore[union-attr]
        started = time.monotonic()
        try:
            context = ssl.create_default_context() if scheme == "https" else None
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), 10)
            writer.close()
        except (TimeoutError, OSError) as error:
            raise ApplicationError(f"cannot reach the DRS service at {host}:{port} over {scheme.upper()}: "
                                   f"{error or type(error).__name__}", type="Unreachable") from None
        return f"{scheme.upper()} {host}:{port} reached in {time.monotonic() - started:.2f}s"

    @activity.defn(name=names.FAILBACK_PAIR)
    async def pair(self, step: FailbackStep) -> str:
        """Pair the failback replication with the recovery instance's agent (retried until the agent reports)."""
        from activities.sites.aws import drs, failback

        provider = self._provider(step.dr)
        found = await _mapped(drs.recovery_instances(provider.api, instances=[step.instance or ""]))
        if not found:
            raise _refuse(f"recovery instance {step.instance} is gone [{provider.describe()}]", "NotFound")
        return await _mapped(failback.pair(provider.api, found[0], step.machine.name))

    @activity.defn(name=names.FAILBACK_REPLICATE)
    async def replicate(self, step: FailbackStep) -> MachineReplication:
        """Failback replication state; not yet continuous is a benign failure the poll policy retries."""
        from activities.sites.aws import drs

        provider = self._provider(step.dr)
        found = await _mapped(drs.recovery_instances(provider.api, instances=[step.instance or ""]))
        if not found:
            raise _refuse(f"recovery instance {step.instance} is gone [{provider.describe()}]", "NotFound")
        state = drs.failback_of(step.machine.name, found[0], datetime.now(UTC))
        if state.phase != "continuous":
            percent = f" {state.percent:.0f}%" if state.percent is not None else ""
            raise ApplicationError(f"{step.machine.name}: {state.phase}{percent} ({state.detail})", type="NotYet",
                                   category=ApplicationErrorCategory.BENIGN)
        return state

    @activity.defn(name=names.FAILBACK_STOP)
    async def stop(self, step: FailbackStep) -> None:
        """Stop the failback replication of the recovery instance (after the flow failed or was cancelled)."""
        from activities.sites.aws import failback

        if step.instance:
            await _mapped(failback.stop(self._provider(step.dr).api, step.instance))

    def all(self) -> list:
        """Every activity of this class, for the worker."""
        return [self.authenticate, self.detect, self.map_volumes, self.configure, self.install, self.verify_endpoint,
                self.pair, self.replicate, self.stop]
