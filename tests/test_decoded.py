"""A large runbook is decoded once per process (standby.decoded): payloads that carry the same runbook give the same
model, a changed runbook its own, and what is not a payload is validated as always."""

import pytest
from pydantic import ValidationError

from bench.runbooks import generate
from standby.contracts.operations import OperationInput, StopInput
from standby.contracts.state import OperationRequest
from standby.converter import DATA_CONVERTER
from standby.decoded import ENTRIES, RUNBOOKS, SMALLEST, Decoded
from standby.runbook import Runbook

CONVERTER = DATA_CONVERTER.payload_converter


def roundtrip(value: object, kind: type) -> object:
    return CONVERTER.from_payloads(CONVERTER.to_payloads([value]), [kind])[0]


def large(name: str = "bench") -> Runbook:
    runbook = generate(1000, 5, name)
    assert len(runbook.model_dump_json(exclude_defaults=True)) > SMALLEST
    return runbook


def test_payloads_carrying_one_runbook_give_one_model():
    runbook = large()
    request = roundtrip(OperationRequest(operation="failover", runbook=runbook, requested_by="ops"), OperationRequest)
    operation = roundtrip(OperationInput(runbook=runbook, owner="standby/bench"), OperationInput)
    stop = roundtrip(StopInput(runbook=runbook, site="primary", apps=["app00000"]), StopInput)
    assert request.runbook is operation.runbook is stop.runbook
    assert operation.runbook == runbook and operation.runbook is not runbook


def test_a_changed_runbook_is_decoded_as_it_is():
    runbook = large()
    changed = runbook.model_copy(update={"description": "after the review"})
    first = roundtrip(OperationInput(runbook=runbook), OperationInput).runbook
    second = roundtrip(OperationInput(runbook=changed), OperationInput).runbook
    assert first is not second
    assert (first.description, second.description) == ("", "after the review")


def test_a_small_runbook_and_a_runbook_outside_payloads_are_validated_each_time():
    small = generate(10, 2)
    assert roundtrip(small, Runbook) is not roundtrip(small, Runbook)
    document = large().model_dump(mode="json", exclude_defaults=True)
    assert Runbook.model_validate(document) is not Runbook.model_validate(document)


def test_a_runbook_a_payload_gets_wrong_is_refused_where_it_is_wrong_and_not_kept():
    document = large().model_dump(mode="json", exclude_defaults=True)
    bad = len(document["groups"][0]["apps"])
    document["groups"][0]["apps"].append(7)
    with pytest.raises(ValidationError) as refused:
        CONVERTER.from_payloads(CONVERTER.to_payloads([document]), [Runbook])
    assert [error["loc"] for error in refused.value.errors()] == [("groups", 0, "apps", bad)]
    decoded = Decoded()
    with pytest.raises(ValidationError):
        decoded.get(document, Runbook.model_validate)
    assert len(decoded) == 0
    document["groups"][0]["apps"].pop()
    fixed = decoded.get(document, Runbook.model_validate)
    assert decoded.get(document, Runbook.model_validate) is fixed and len(decoded) == 1


def test_the_process_keeps_a_bounded_number_of_runbooks():
    for number in range(ENTRIES + 2):
        roundtrip(large(f"bench{number}"), Runbook)
    assert len(RUNBOOKS) == ENTRIES
