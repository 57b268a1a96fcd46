"""The runbook JSON Schema, generated from the model so it never drifts by hand."""

from typing import Any

from standby.runbook import Runbook


def runbook_schema() -> dict[str, Any]:
    """JSON Schema of a runbook file, for editors and for `standby schema`."""
    schema = Runbook.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "Standby runbook"}
