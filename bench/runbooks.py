"""Generated runbooks of N machines in G priority groups, for benchmarks and scale tests."""

import yaml

from standby.runbook import Runbook

# Share of each group's apps that the rest of the group depends on (a data tier): two waves per group.
TIER_SHARE = 0.1


def generate(machines: int, groups: int, name: str = "bench") -> Runbook:
    """One app per machine; in each group a tenth of the apps are a first wave the others depend on."""
    per_group = [machines // groups + (1 if g < machines % groups else 0) for g in range(groups)]
    apps, group_list, number = {}, [], 0
    for g, size in enumerate(per_group):
        names = [f"app{number + i:05d}" for i in range(size)]
        number += size
        tier = names[: max(1, int(size * TIER_SHARE))]
        for position, app in enumerate(names):
            depends = [] if app in tier else [tier[position % len(tier)]]
            apps[app] = {"machines": [f"m{app[3:]}"], "depends_on": depends, "start": ["true"]}
        group_list.append({"name": f"group{g + 1}", "apps": names})
    document = {
        "runbook": name,
        "sites": {"primary": {"provider": "local", "port_base": 20000},
                  "dr": {"provider": "local", "port_base": 40000}},
        "protection": {"source": "primary", "target": "dr"},
        "machines": {f"m{app[3:]}": {} for app in apps},
        "apps": apps,
        "groups": group_list,
    }
    return Runbook.model_validate(document)


def to_yaml(runbook: Runbook) -> str:
    """The runbook as a file a person could read."""
    return yaml.safe_dump(runbook.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
