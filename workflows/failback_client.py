"""The Failback Client of a machine outside AWS, as a child workflow of failback: one activity per step.

authenticate (installation token from the worker's environment) -> detect the recovery instance -> map volumes ->
download the replication software (three more tries) -> configure it -> install it (two more tries) -> verify
HTTPS to the service (retried) -> pair with the agent -> connect on port 1500 (retried until the deadline) ->
replicate until continuous data protection. A failure after pairing stops the failback replication again, so the
recovery instance is released.
"""

import asyncio
from datetime import timedelta
from typing import TypeVar, Unpack

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby.contracts import names
    from standby.contracts.checks import ConnectivityInput, ConnectivityResult, DownloadInput, DownloadResult
    from standby.contracts.failback import ConfigureInput, Detected, FailbackStep, VolumesInput
    from standby.contracts.sites import MachineReplication, machine_refs, site_ref
    from standby.holders import holder_ref
    from standby.plan_steps import FailbackClient
    from standby.runbook import Runbook
    from workflows import policies
    from workflows.operator import Operator

T = TypeVar("T")
QUICK = policies.ActivityOptions(retry_policy=RetryPolicy(maximum_attempts=3),
                                 start_to_close_timeout=timedelta(minutes=2))
ENDPOINT_DEADLINE = timedelta(minutes=10)
CONNECT_DEADLINE = timedelta(minutes=30)
REPLICATION_DEADLINE = timedelta(hours=24)
REPLICATION_POLL = timedelta(seconds=2)
# The installer registers with DRS over the network: a blip passes on a second try, three failures need a person
# (the error quotes the installer's log). One attempt may take long: it installs drivers and contacts the service.
INSTALL = RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=2, maximum_attempts=3)
INSTALL_TIMEOUT = timedelta(minutes=30)
# Histories recorded before the install step existed replay without it.
INSTALLS = "failback-client-runs-the-installer"
DEFAULT_SOFTWARE = ("https://aws-elastic-disaster-recovery-{region}.s3.{region}.amazonaws.com/latest/linux/"
                    "aws-replication-installer-init")


@workflow.defn(name="FailbackClient")
class FailbackClientWorkflow(Operator):
    """Bring one machine outside AWS back into failback replication from its recovery instance."""

    @workflow.init
    def __init__(self, step: FailbackStep) -> None:
        self._start_progress(step.runbook, "failback")
        config = step.machine.config.failback
        self._queue = config.task_queue if config and config.task_queue else None

    async def _run(self, name: str, activity: str, arg: object, result_type: type[T],
                   **options: Unpack[policies.ActivityOptions]) -> T:
        async with self.step(name, app=None) as record:
            result: T = await workflow.execute_activity(activity, arg, result_type=result_type, summary=name,
                                                        task_queue=self._queue, **(options or QUICK))
            record.detail = result if isinstance(result, str) else ""
            return result

    @workflow.run
    async def run(self, step: FailbackStep) -> MachineReplication:
        """Each step in order; returns the machine's replication once continuous."""
        name = step.machine.name
        await self._run(f"{name}: authenticate with the installation token", names.FAILBACK_AUTHENTICATE, step, str)
        detected = await self._run(f"{name}: detect the recovery instance", names.FAILBACK_DETECT, step, Detected)
        step = step.model_copy(update={"instance": detected.instance})
        volumes = await self._run(f"{name}: map volumes", names.FAILBACK_MAP_VOLUMES,
                                  VolumesInput(step=step, detected=detected), dict[str, str])
        package = await self._download(step, detected)
        software = ConfigureInput(step=step, detected=detected, volumes=volumes, package=package)
        await self._run(f"{name}: configure the replication software", names.FAILBACK_CONFIGURE, software, str)
        if workflow.patched(INSTALLS):
            await self._install(software)
        await self._run(f"{name}: verify HTTPS 443 to the service", names.FAILBACK_VERIFY_ENDPOINT, step, str,
                        **policies.connectivity_options(ENDPOINT_DEADLINE))
        await self._run(f"{name}: pair with the agent", names.FAILBACK_PAIR, step, str,
                        **policies.poll_options(ENDPOINT_DEADLINE, timedelta(seconds=5)))
        try:
            await self._connect(step, detected)
            return await self._run(f"{name}: replicate until continuous data protection", names.FAILBACK_REPLICATE,
                                   step, MachineReplication,
                                   **policies.poll_options(REPLICATION_DEADLINE, REPLICATION_POLL))
        except BaseException:
            # Also on cancel: the recovery instance must not stay paired with a failback that no one finishes.
            await workflow.execute_activity(names.FAILBACK_STOP, step, summary=f"{name}: stop failback",
                                            task_queue=self._queue, **QUICK)
            raise

    async def _download(self, step: FailbackStep, detected: Detected) -> str:
        dr = step.dr.config
        url = getattr(dr, "replication_software_url", None) or DEFAULT_SOFTWARE.format(region=getattr(dr, "region", ""))
        package = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "replication-software"
        inp = DownloadInput(url=url, dest=f"{detected.workdir}/{package}", package=package)
        try:
            result = await self._run(f"{step.machine.name}: download the replication software", names.DOWNLOAD, inp,
                                     DownloadResult, retry_policy=policies.DOWNLOAD,
                                     start_to_close_timeout=policies.DOWNLOAD_TIMEOUT,
                                     heartbeat_timeout=policies.HEARTBEAT)
        except ActivityError as error:
            raise ApplicationError(f"the replication software package {package} could not be downloaded after "
                                   f"{policies.DOWNLOAD.maximum_attempts} tries: {_cause(error)}",
                                   type="DownloadFailed", non_retryable=True) from error
        return result.path

    async def _install(self, software: ConfigureInput) -> None:
        name = software.step.machine.name
        try:
            await self._run(f"{name}: install the replication software", names.FAILBACK_INSTALL, software, str,
                            retry_policy=INSTALL, start_to_close_timeout=INSTALL_TIMEOUT,
                            heartbeat_timeout=policies.HEARTBEAT)
        except ActivityError as error:
            raise ApplicationError(f"the replication software of {name} did not install after "
                                   f"{INSTALL.maximum_attempts} tries: {_cause(error)}", type="InstallFailed",
                                   non_retryable=True) from error

    async def _connect(self, step: FailbackStep, detected: Detected) -> None:
        config = step.machine.config.failback
        host = (config.replication_host if config else None) or detected.address or ""
        port = config.replication_port if config else 1500
        inp = ConnectivityInput(host=host, port=port, purpose=f"the replication server of {step.machine.name}")
        await self._run(f"{step.machine.name}: connect on port {port}", names.CHECK_CONNECTIVITY, inp,
                        ConnectivityResult, **policies.connectivity_options(CONNECT_DEADLINE))


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, ApplicationError) else str(error)


async def run_failback_clients(runbook: Runbook, step: FailbackClient) -> str:
    """Run the Failback Client of each machine of the step, in parallel, each as a child workflow."""
    parent = workflow.info().workflow_id
    # Each machine's sites as the providers holding it see them: at a mixed site, its AWS region and its home.
    steps = [FailbackStep(runbook=runbook.runbook, machine=m,
                          dr=holder_ref(site_ref(runbook, step.dr), m.name, m.config),
                          home=holder_ref(site_ref(runbook, step.home), m.name, m.config))
             for m in machine_refs(runbook, step.machines)]
    states = await asyncio.gather(*(workflow.execute_child_workflow(
        FailbackClientWorkflow.run, s, id=f"{parent}/failback-client/{s.machine.name}",
        static_summary=f"Failback Client of {s.machine.name}") for s in steps))
    return "; ".join(f"{s.machine}: {s.phase}" for s in states)
