"""Search attributes Standby sets so the Temporal UI can filter operations."""

from temporalio.common import SearchAttributeKey

RUNBOOK = SearchAttributeKey.for_keyword("Runbook")
OPERATION = SearchAttributeKey.for_keyword("Operation")
MODE = SearchAttributeKey.for_keyword("Mode")
STATE = SearchAttributeKey.for_keyword("State")

ALL = (RUNBOOK, OPERATION, MODE, STATE)
