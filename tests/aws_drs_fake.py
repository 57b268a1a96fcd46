"""Elastic Disaster Recovery for tests: a Stubber whose answers come from a small state machine of the service.

Why stubbed: DRS has no emulator (moto has none, AWS publishes none). Every call still goes through a real botocore
DRS client, so botocore checks each request against the DRS service model (types, required members), this module
checks what botocore leaves out (lengths, patterns, enums) on requests and answers, and Stubber checks each answer
against the operation's output shape. Recovery launches run real instances in moto's EC2 of the same region,
so EC2, SSM and Route 53 stay real (moto) around the stub.
"""

from __future__ import annotations

import random
import re
import string
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

Item = dict[str, Any]
SYNC = ["INITIATING", "INITIAL_SYNC", "CREATING_SNAPSHOT", "CONTINUOUS"]


def now(offset: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def new_id(prefix: str) -> str:
    return prefix + "".join(random.choices(string.ascii_lowercase + string.digits, k=17))


def violations(shape: Any, value: Any, path: str = "") -> list[str]:
    """What botocore's validator does not check: string lengths, patterns and enums, list and map sizes."""
    if shape is None:
        return []
    meta, kind, found = shape.metadata, shape.type_name, []
    if kind == "structure":
        return [
            v
            for k, item in value.items()
            if k in shape.members
            for v in violations(shape.members[k], item, f"{path}.{k}")
        ]
    if kind in ("list", "map") and len(value) > meta.get("max", 10**9):
        found.append(f"{path}: {len(value)} items, at most {meta['max']}")
    if kind == "list":
        found += [v for i, item in enumerate(value) for v in violations(shape.member, item, f"{path}[{i}]")]
    if kind == "map":
        found += [v for k, item in value.items() for v in violations(shape.value, item, f"{path}.{k}")]
    if kind == "string":
        if not meta.get("min", 0) <= len(value) <= meta.get("max", 10**9):
            found.append(f"{path}: length {len(value)} outside {meta.get('min', 0)}..{meta.get('max')}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            found.append(f"{path}: {value!r} does not match {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            found.append(f"{path}: {value!r} not one of {shape.enum}")
    return found


class Fault(Exception):
    """A DRS error answer."""

    def __init__(self, code: str, message: str = "", status: int = 400):
        super().__init__(message or code)
        self.code, self.message, self.status = code, message or code, status


class StrictStubber(Stubber):
    """botocore's Stubber, also checking lengths, patterns and enums of every request and queued answer."""

    def __init__(self, client: Any):
        super().__init__(client)
        self.problems: list[str] = []

    def _assert_expected_params(self, model, params, context, **kwargs):
        self._check(model.input_shape, params, f"{model.name} request")
        super()._assert_expected_params(model, params, context, **kwargs)

    def _validate_operation_response(self, operation_name, service_response):
        super()._validate_operation_response(operation_name, service_response)
        shape = self.client.meta.service_model.operation_model(operation_name).output_shape
        body = {k: v for k, v in service_response.items() if k != "ResponseMetadata"}
        self._check(shape, body, f"{operation_name} answer")

    def _check(self, shape: Any, value: Any, what: str) -> None:
        found = violations(shape, value)
        if found:
            self.problems.extend(found)
            raise ParamValidationError(report=f"{what}: " + "; ".join(found))


class ScriptedDrs(StrictStubber):
    """A Stubber that answers each call from `world` instead of a queue (calls of concurrent activities interleave)."""

    def __init__(self, client: Any, world: Any, region: str):
        super().__init__(client)
        self.world, self.region, self._local = world, region, threading.local()
        self.calls: list[tuple[str, Item]] = []

    def _assert_expected_params(self, model, params, context, **kwargs):
        self._check(model.input_shape, params, f"{model.name} request")
        self.calls.append((model.name, params))
        try:
            body, status = self.world.answer(self.region, model.name, params), 200
            self._validate_operation_response(model.name, body)
        except Fault as fault:
            body = {
                "Error": {"Code": fault.code, "Message": fault.message},
                "ResponseMetadata": {"HTTPStatusCode": fault.status},
            }
            status = fault.status
        self._local.response = (AWSResponse(None, status, {}, None), body)

    def _get_response_handler(self, model, params, context, **kwargs):
        return self._local.response

    def called(self, operation: str) -> list[Item]:
        """Parameters of every call of an operation (`StartRecovery`)."""
        return [params for name, params in self.calls if name == operation]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class DrsWorld:
    """Source servers, snapshots, jobs and recovery instances of two regions; launches run instances in moto."""

    def __init__(self, ec2: Callable[[str], Any], regions: tuple[str, str], account: str = "123456789012"):
        self.ec2, self.regions, self.account = ec2, regions, account
        self.servers: dict[str, Item] = {}
        self.instances: dict[str, Item] = {}
        self.jobs: dict[str, Item] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.fail_launch: dict[str, str] = {}
        self.disks: list[tuple[str, int]] = [("/dev/xvda", 4096), ("/dev/xvdb", 8192)]
        self.sync = list(SYNC)  # the states a reversed or restarted replication goes through
        self.lock = threading.RLock()

    def answer(self, region: str, operation: str, params: Item) -> Item:
        with self.lock:
            if self.faults.get(operation):
                raise self.faults[operation].pop(0)
            from tests import aws_drs_state

            return getattr(aws_drs_state, snake(operation))(self, region, **params)

    def add_server(
        self,
        region: str,
        server_id: str | None = None,
        states: list[str] | None = None,
        points: int = 3,
        template: str | None = None,
        tags: dict[str, str] | None = None,
        direction: str = "FAILOVER",
        hostname: str | None = None,
        os: str | None = None,
    ) -> Item:
        """A source server; `states` is its replication from now on, one step per DescribeSourceServers."""
        ident = server_id or new_id("s-")
        server = {
            "id": ident,
            "region": region,
            "arn": f"arn:aws:drs:{region}:{self.account}:source-server/{ident}",
            "states": list(states or ["CONTINUOUS"]),
            "tags": dict(tags or {}),
            "template": template,
            "direction": direction,
            "reversed": None,
            "added": now(),
            "hostname": hostname,
            "os": os,
            "config": {
                "name": ident,
                "launchDisposition": "STOPPED",
                "targetInstanceTypeRightSizingMethod": "BASIC",
                "copyPrivateIp": False,
                "copyTags": True,
            },
            "snapshots": [
                {
                    "snapshotID": new_id("pit-"),
                    "sourceServerID": ident,
                    "timestamp": now(-600 * i),
                    "expectedTimestamp": now(-600 * i),
                }
                for i in reversed(range(points))
            ],
        }
        self.servers[ident] = server
        return server

    def other(self, region: str) -> str:
        return self.regions[1] if region == self.regions[0] else self.regions[0]
