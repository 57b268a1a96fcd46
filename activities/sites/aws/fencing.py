"""Fencing epochs on AWS: a launch, start or identity move of an epoch older than the app's newest is refused.

Two records hold an app's newest epoch. Its instances carry the tag `standby:epoch` (launched or started by an
operation of that epoch). Its Route 53 record has a TXT record beside it, `_standby-epoch.<name>`, changed in the
same change batch as the record itself: Route 53 applies a batch all or nothing, and the batch deletes the exact
TXT value it read, so a batch built on a stale read is rejected whole. The value counts the moves
(`"epoch=2 move=5"`), so a move of the same epoch replaces it too and is guarded the same way. The hosted zone is
global, so every region of the runbook sees the record: an old source site that comes back is refused even though
its own instances never saw the fencing operation.
"""

from __future__ import annotations

from typing import Any

from activities.sites.aws import instances as ec2
from activities.sites.aws.clients import Api
from activities.sites.aws.drs import tags_of
from activities.sites.base import PermanentProviderError, ProviderError
from standby.contracts.sites import AppRef, LaunchInput

EPOCH = "standby:epoch"
PREFIX = "_standby-epoch."
TTL = 60
# What Route 53 answers when a DELETE does not match the record as it is now (moto: InvalidInput).
REJECTED = frozenset({"InvalidChangeBatch", "InvalidInput"})
Item = dict[str, Any]


def stale(epoch: int, newest: int, what: str, describe: str) -> PermanentProviderError:
    """The refusal of a fenced call."""
    return PermanentProviderError(f"stale epoch {epoch} < {newest}: {what} holds epoch {newest}, written by a newer "
                                  f"operation [{describe}]")


def record_name(name: str) -> str:
    """The TXT record that holds the epoch of the app whose record is `name`."""
    return PREFIX + name.rstrip(".") + "."


async def zone_record(api: Api, zone: str, name: str) -> Item | None:
    """The epoch TXT record beside `name` in the hosted zone, None when there is none yet."""
    wanted = record_name(name)
    found = await api.do("route53", "list_resource_record_sets", HostedZoneId=zone, StartRecordName=wanted,
                         StartRecordType="TXT", MaxItems="1")
    sets = [s for s in found.get("ResourceRecordSets", []) if s["Name"] == wanted and s["Type"] == "TXT"]
    return sets[0] if sets else None


def _fields(record: Item | None) -> dict[str, int]:
    if record is None:
        return {}
    text = record["ResourceRecords"][0]["Value"].strip('"')
    return {k: int(v) for k, _, v in (part.partition("=") for part in text.split())}


def epoch_of(record: Item | None) -> int:
    """The epoch a TXT record holds (0 for none)."""
    return _fields(record).get("epoch", 0)


def epoch_changes(name: str, current: Item | None, epoch: int) -> list[Item]:
    """Replace the TXT record as read by one of `epoch`: DELETE of the exact old value, then CREATE."""
    value = f'"epoch={epoch} move={_fields(current).get("move", 0) + 1}"'
    new = {"Name": record_name(name), "Type": "TXT", "TTL": TTL, "ResourceRecords": [{"Value": value}]}
    old = [{"Action": "DELETE", "ResourceRecordSet": current}] if current else []
    return [*old, {"Action": "CREATE", "ResourceRecordSet": new}]


async def guarded_change(api: Api, zone: str, name: str, epoch: int, changes: list[Item], comment: str) -> Item:
    """Apply `changes` with the epoch record in one batch, refused when the zone holds a newer epoch."""
    current = await zone_record(api, zone, name)
    if epoch < epoch_of(current):
        raise stale(epoch, epoch_of(current), f"{name} in zone {zone}", api.describe)
    batch = {"Comment": comment, "Changes": [*changes, *epoch_changes(name, current, epoch)]}
    done = await api.call("route53", "change_resource_record_sets", benign=REJECTED, HostedZoneId=zone,
                          ChangeBatch=batch)
    if done is not None:
        return done
    newest = epoch_of(await zone_record(api, zone, name))
    if epoch < newest:
        raise stale(epoch, newest, f"{name} in zone {zone}", api.describe)
    raise ProviderError(f"the epoch record of {name} changed while moving it [{api.describe}]: trying again")


async def newest(api: Api, runbook: str, app: AppRef) -> int:
    """The newest epoch of the app here: its instances' tags and, with a Route 53 endpoint, the zone's record."""
    seen = [0]
    for machine in app.machines:
        seen += [int(tags_of(i).get(EPOCH) or 0) for i in await ec2.of_machine(api, runbook, machine.name)]
    spec = app.config.endpoint
    if spec is not None and spec.zone:
        seen.append(epoch_of(await zone_record(api, spec.zone, spec.name)))
    return max(seen)


async def admit(api: Api, runbook: str, app: AppRef, epoch: int) -> None:
    """Refuse a launch or start of an epoch older than the app's newest."""
    found = await newest(api, runbook, app)
    if epoch < found:
        raise stale(epoch, found, f"{app.name}", api.describe)


async def admit_launches(api: Api, runbook: str, inputs: list[LaunchInput]) -> None:
    """Refuse the recoveries among these launches of an epoch older than their app's (drills are not fenced)."""
    for inp in {(i.app.name, i.epoch): i for i in inputs if i.mode == "recovery"}.values():
        await admit(api, runbook, inp.app, inp.epoch)


async def mark(api: Api, ids: list[str], epoch: int) -> None:
    """Tag instances with the epoch that started them."""
    if epoch and ids:
        await ec2.tag(api, {ident: {EPOCH: str(epoch)} for ident in ids})
