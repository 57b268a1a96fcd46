"""Committed histories of real runs of every workflow type replay against today's workflow code.

A workflow edit that would break executions already running (another activity, another order, another
child) fails here. Such an edit goes behind `workflow.patched` (or into a new workflow type) so that running
operations keep replaying; when old histories may break on purpose, record them again with
`python tests/histories/record.py` and say in the change why.
"""

import base64
import json
import re
import sys
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from standby.converter import DATA_CONVERTER
from tests.histories.scenarios import at_rest
from workflows.registry import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories"
RECORDED = sorted(path.stem for path in HISTORIES.glob("*.json"))
# The recorder's state folder: the one machine path a history may show.
STATE = "/tmp/standby-history"
# Besides it: the recorder's stand-ins for the checkout and the interpreter's folders, and the device names
# of the Failback Client's recovery instance, which come from DRS, not from this machine.
NEUTRAL = (STATE, "/standby/", "/python/", "/dev/xvd")


def history(name: str) -> WorkflowHistory:
    """A committed history; `shop.failover.data.json` is the workflow `standby/shop/failover/data`, `shop.json` the
    runbook's owner `standby/shop`."""
    return WorkflowHistory.from_json(f"standby/{name.replace('.', '/')}", (HISTORIES / f"{name}.json").read_text())


def workflow_type(name: str) -> str:
    """The type of the workflow a committed history ran."""
    started = history(name).events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name


def strings(value) -> list[str]:
    """Every string of a history's JSON, payloads decoded."""
    if isinstance(value, dict):
        inner = [base64.b64decode(value["data"]).decode()] if "data" in value and "metadata" in value else []
        return inner + [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


def test_every_workflow_type_has_a_committed_history():
    """A new workflow type, or one whose history went missing, fails until its run is recorded."""
    # The SDK keeps a class's workflow name in its definition; it has no public accessor.
    registered = {workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS}
    assert sorted({workflow_type(name) for name in RECORDED}) == sorted(registered)
    assert workflow_type("shop") == "Runbook"
    operations = {workflow_type(name) for name in RECORDED if name.startswith("shop.") and name.count(".") == 1}
    assert operations >= {"Drill", "Failover", "Failback", "ReturnToNormal", "Switchover"}


@pytest.mark.parametrize("name", RECORDED)
async def test_history_replays(name):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history(name))
    assert result.replay_failure is None


@pytest.mark.parametrize("name", RECORDED)
def test_history_is_of_a_completed_run(name):
    """Every committed run ran to its end, so a replay covers all of its commands; the runbook's owner, which
    never ends, to a point where it waits for nothing it started."""
    events = list(history(name).events)
    if workflow_type(name) == "Runbook":
        assert at_rest(events)
    else:
        assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


def test_owner_history_protects_and_starts_each_operation_as_its_child():
    """The owner's run: protection asked and stopped by update, the five operations requested and started as
    its children in the lifecycle's order, and its own replication rounds."""
    events = history("shop").events
    updates = [e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
               for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    children = [e.start_child_workflow_execution_initiated_event_attributes.workflow_id
                for e in events if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED]
    activities = {e.activity_task_scheduled_event_attributes.activity_type.name
                  for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    # The lifecycle's five operations, and after return the drill a schedule asks for.
    assert updates == ["protect", *["request"] * 6, "protect"]
    assert children == [f"standby/shop/{op}" for op in ("drill", "failover", "failback", "return", "drill",
                                                          "switchover")]
    assert {"import_legacy_state", "start_app", "move_identity", "replicate"} <= activities


def test_failover_history_covers_approval_prompt_and_both_groups():
    """The failover history is a complete one: updates answered, both groups recovered, workflow completed."""
    events = history("shop.failover").events
    updates = [e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
               for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    children = [e.start_child_workflow_execution_initiated_event_attributes.workflow_id
                for e in events if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED]
    assert updates == ["approve", "continue"]
    assert children == ["standby/shop/failover/data", "standby/shop/failover/services"]


def test_inline_failover_history_recovers_its_groups_in_the_operation():
    """The inline failover started no child: its groups' launches and prompt are in its own history."""
    events = history("inline.failover").events
    updates = [e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
               for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    launches = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name == "launch_targets"]
    assert not any(e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED for e in events)
    assert updates == ["continue"] and len(launches) == 4


def test_chained_failover_history_launches_each_group_in_one_activity_and_names_the_stopped_apps():
    """Each group of the chained failover is one launch activity that starts the group's dependents, and its stop
    waves' result names the apps that simply stopped: the history the patches of both record."""
    events = history("chained.failover").events
    markers = {json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
               for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED}
    launches = [e.activity_task_scheduled_event_attributes.input.payloads[0] for e in events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name == "launch_targets"]
    stopped = [e.activity_task_completed_event_attributes.result.payloads[0] for e in events
               if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
               and b'"stopped"' in e.activity_task_completed_event_attributes.result.payloads[0].data]
    assert {"chained-launches", "larger-launch-batches"} <= markers
    assert len(launches) == 2 and all(json.loads(p.data)["after"] for p in launches)
    assert len(json.loads(stopped[0].data)["stopped"]) == 20


def test_batch_histories_come_from_a_wave_larger_than_a_batch():
    """The wide failover stopped and recovered its big wave in batch children, and both kinds are committed."""
    stops = [name for name in RECORDED if workflow_type(name) == "StopApps"]
    batches = [name for name in RECORDED if workflow_type(name) == "RecoverApps"]
    assert stops == ["wide.failover.stop2"] and batches == ["wide.failover.group1.wave2-batch2"]


@pytest.mark.parametrize("name", RECORDED)
def test_history_shows_no_machine_paths(name):
    """Only the recorder's neutral state folder; no checkout, home, interpreter or site-packages path."""
    text = "\n".join(strings(json.loads((HISTORIES / f"{name}.json").read_text())))
    local = {str(Path(__file__).resolve().parent.parent), str(Path.home()), sys.prefix, sys.base_prefix, sys.executable}
    assert [path for path in local if path in text] == []
    absolute = set(re.findall(r"(?<![\w.:/])/(?:[\w.@-]+/)+[\w.@-]*", text))
    assert sorted(path for path in absolute if not path.startswith(NEUTRAL)) == []
