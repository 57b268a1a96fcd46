"""Search attributes Standby sets so the Temporal UI can filter operations."""

from temporalio.common import SearchAttributeKey

RUNBOOK = SearchAttributeKey.for_keyword("Runbook")
OPERATION = SearchAttributeKey.for_keyword("Operation")
MODE = SearchAttributeKey.for_keyword("Mode")
STATE = SearchAttributeKey.for_keyword("State")
# The sites of a runbook, on its owner: a worker that serves every site finds their task queues by it.
SITES = SearchAttributeKey.for_keyword_list("Sites")
# The protect monitor of a runbook's owner: `watching`, or `paused` in maintenance mode.
MONITOR = SearchAttributeKey.for_keyword("Monitor")

ALL = (RUNBOOK, OPERATION, MODE, STATE, SITES, MONITOR)
