"""`standby doctor RUNBOOK`: per site, whether this worker reaches it and may call what the runbook needs."""

import json
import sys

import click
from rich.table import Table

from standby.cli.output import err, load_or_exit, out


@click.command()
@click.argument("runbook_file", type=click.Path(dir_okay=False))
@click.option("--site", "sites", multiple=True, help="only this site (repeat for several)")
@click.option("--json", "as_json", is_flag=True, help="print the checks as JSON")
def doctor(runbook_file: str, sites: tuple[str, ...], as_json: bool) -> None:
    """Check each site with this machine's credentials; print what is missing; exit 1 if anything is."""
    # The one command that imports a provider: it checks this machine's credentials, so it calls the SDKs here.
    import activities.sites.registry as registry

    runbook = load_or_exit(runbook_file)
    unknown = [s for s in sites if s not in runbook.sites]
    if unknown:
        err.print(f"unknown site(s) {', '.join(unknown)}; the runbook has {', '.join(runbook.sites)}", markup=False)
        sys.exit(2)
    found = registry.doctor(runbook, list(sites) or None)
    if as_json:
        out.print(json.dumps([{"site": c.site, "check": c.name, "ok": c.ok, "detail": c.detail} for c in found],
                             indent=2), markup=False)
    else:
        table = Table("site", "check", "", "detail", title=f"standby doctor {runbook.runbook}", title_justify="left")
        for check in found:
            table.add_row(check.site, check.name, "ok" if check.ok else "MISSING", check.detail)
        out.print(table)
    failed = [c for c in found if not c.ok]
    if failed:
        err.print(f"{len(failed)} of {len(found)} checks failed", markup=False)
        sys.exit(1)


COMMANDS = (doctor,)
