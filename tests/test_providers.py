"""The provider registry: one package per site model, read by the site factory, the doctor and the worker."""

import subprocess
import sys
import textwrap
import typing
from dataclasses import replace
from pathlib import Path

import pytest

from activities import registry as worker_registry
from activities.sites.aws import PROVIDER as AWS
from activities.sites.base import Check, PermanentProviderError
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import PROVIDERS, Providers, doctor
from standby.contracts import names
from standby.contracts.failback import failback_client_machines
from standby.contracts.sites import app_places, machine_index, site_ref
from standby.loader import load
from standby.runbook import Machine, SingleSite, Site

ROOT = Path(__file__).resolve().parent.parent


def definition(activity: object) -> str:
    """The name an activity is registered under."""
    return activity.__temporal_activity_definition.name  # type: ignore[attr-defined]


def test_every_site_model_of_the_runbook_has_one_provider_package_named_as_its_sites_say() -> None:
    models = typing.get_args(typing.get_args(SingleSite)[0])  # a mixed site is made of them, no provider itself
    assert sorted(m.__name__ for m in typing.get_args(typing.get_args(Site)[0])) == sorted(
        [*(m.__name__ for m in models), "MixedSite"])
    assert sorted(m.__name__ for m in models) == sorted(p.site_model.__name__ for p in PROVIDERS)
    for spec in PROVIDERS:
        assert typing.get_args(spec.site_model.model_fields["provider"].annotation) == (spec.name,)


def test_a_worker_for_local_sites_loads_no_cloud_sdk(shop_file: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from activities import registry
        from activities.sites.registry import Providers, doctor
        from standby.contracts.sites import site_ref
        from standby.loader import load

        runbook = load(Path({str(shop_file)!r}))
        providers = Providers(Path({str(tmp_path)!r}))
        activities = registry.build(Path({str(tmp_path)!r}), providers)
        print(type(providers.for_site(site_ref(runbook, "dr"))).__name__, len(doctor(runbook)))
        print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"boto3", "botocore", "pyVmomi"}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["LocalSiteProvider 2", "[]"]


def test_the_worker_registers_the_activities_its_providers_add() -> None:
    registered = {definition(a) for a in worker_registry.build(Path("/nonexistent"))}
    assert {names.FAILBACK_AUTHENTICATE, names.FAILBACK_STOP, *names.REMEDIATE.values()} <= registered
    only_local = Providers(Path("/nonexistent"), [LOCAL])
    alone = {definition(a) for a in worker_registry.build(Path("/nonexistent"), only_local)}
    assert names.LAUNCH_TARGET in alone and not alone & {names.FAILBACK_AUTHENTICATE, *names.REMEDIATE.values()}


def test_a_site_whose_provider_the_worker_lacks_is_refused_naming_what_it_has(shop_file: Path) -> None:
    runbook = load(shop_file)
    with pytest.raises(PermanentProviderError, match=r"no provider 'local' on this worker \[site=dr\]; it has: aws"):
        Providers(Path("/nonexistent"), [AWS]).for_site(site_ref(runbook, "dr"))


def test_the_doctor_asks_each_sites_provider_and_a_broken_checker_is_one_failed_line(shop_file: Path) -> None:
    runbook = load(shop_file)
    assert [(c.site, c.name, c.ok) for c in doctor(runbook, ["dr"])] == [("dr", "local", True)]

    def broken(site, runbook) -> list[Check]:
        raise RuntimeError("no route to the site")

    found = doctor(runbook, None, [replace(LOCAL, doctor=broken)])
    assert found == [Check("primary", "checks", False, "RuntimeError: no route to the site"),
                     Check("dr", "checks", False, "RuntimeError: no route to the site")]


def test_only_machines_outside_aws_failing_back_from_aws_need_the_failback_client() -> None:
    runbook = load(ROOT / "runbooks" / "aws-shop.yaml")
    outside = [m for m, machine in runbook.machines.items() if machine.source == "onprem"]
    assert outside, "aws-shop.yaml has a machine outside AWS"
    dr, apps = runbook.protection.target, list(runbook.apps)
    assert failback_client_machines(runbook, dr, apps) == [m for a in apps for m in runbook.apps[a].machines
                                                           if m in outside]
    local = load(ROOT / "runbooks" / "shop.yaml")
    assert failback_client_machines(local, "dr", list(local.apps)) == []
    assert not local.sites["dr"].needs_failback_client(Machine(source="onprem"))


def test_an_apps_place_is_its_first_machines_in_the_whole_runbook() -> None:
    runbook = load(ROOT / "runbooks" / "shop.yaml")
    index = machine_index(runbook)
    assert app_places(runbook) == {"db": index["db1"], "api": index["app1"], "web": index["web1"]}
    assert app_places(runbook, {"db1": 7, "app1": 8, "web1": 9}) == {"db": 7, "api": 8, "web": 9}
