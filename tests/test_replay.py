"""Committed histories of a real drill and a real failover replay against today's workflow code.

A workflow edit that would break executions already running (another activity, another order, another
child) fails here. When such an edit is intended, record the histories again with
`python tests/histories/record.py` and say in the change why running operations may break.
"""

import base64
import json
import re
import sys
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from standby.converter import DATA_CONVERTER
from workflows.registry import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories"
RECORDED = ["drill", "drill.data", "drill.services", "failover", "failover.data", "failover.services"]
# The recorder's state folder: the one machine path a history may show.
STATE = "/tmp/standby-history"


def history(name: str) -> WorkflowHistory:
    """A committed history; `failover.data.json` is the workflow `standby/shop/failover/data`."""
    return WorkflowHistory.from_json(f"standby/shop/{name.replace('.', '/')}", (HISTORIES / f"{name}.json").read_text())


def strings(value) -> list[str]:
    """Every string of a history's JSON, payloads decoded."""
    if isinstance(value, dict):
        inner = [base64.b64decode(value["data"]).decode()] if "data" in value and "metadata" in value else []
        return inner + [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


def test_every_recorded_history_is_committed():
    assert sorted(p.stem for p in HISTORIES.glob("*.json")) == sorted(RECORDED)


@pytest.mark.parametrize("name", RECORDED)
async def test_history_replays(name):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history(name))
    assert result.replay_failure is None


def test_failover_history_covers_approval_prompt_and_both_groups():
    """The failover history is a complete one: updates answered, both groups recovered, workflow completed."""
    events = history("failover").events
    kinds = [e.event_type for e in events]
    updates = [e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
               for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    children = [e.start_child_workflow_execution_initiated_event_attributes.workflow_id
                for e in events if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED]
    assert updates == ["approve", "continue"]
    assert children == ["standby/shop/failover/data", "standby/shop/failover/services"]
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


@pytest.mark.parametrize("name", RECORDED)
def test_history_shows_no_machine_paths(name):
    """Only the recorder's neutral state folder; no checkout, home, interpreter or site-packages path."""
    text = "\n".join(strings(json.loads((HISTORIES / f"{name}.json").read_text())))
    local = {str(Path(__file__).resolve().parent.parent), str(Path.home()), sys.prefix, sys.base_prefix, sys.executable}
    assert [path for path in local if path in text] == []
    # Besides the state folder, the recorder's stand-ins for the checkout and the interpreter's folders.
    absolute = set(re.findall(r"(?<![\w.:/])/(?:[\w.@-]+/)+[\w.@-]*", text))
    assert sorted(path for path in absolute if not path.startswith((STATE, "/standby/", "/python/"))) == []
