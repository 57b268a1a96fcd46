"""`standby discover SITE_FILE --site NAME`: list the machines a site has and write a runbook skeleton of them."""

import sys
from pathlib import Path

import click

from standby.cli.output import REFUSED, USAGE, err, out
from standby.contracts.sites import SiteRef
from standby.discovery import Filters, SiteFileError, read_site_file, skeleton
from standby.suggest import did_you_mean


def _tags(values: tuple[str, ...]) -> dict[str, str]:
    pairs = [v.split("=", 1) for v in values]
    bad = [v for v, pair in zip(values, pairs, strict=True) if len(pair) != 2 or not pair[0]]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)}: write each tag as KEY=VALUE", param_hint="--tag")
    return dict(pairs)


@click.command()
@click.argument("site_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--site", "site", required=True, help="the site whose machines are listed")
@click.option("--tag", "tags", multiple=True, help="only machines with this tag (AWS) or custom attribute (vSphere)")
@click.option("--folder", help="only VMs in this folder, a path under the datacenter (vSphere)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the skeleton here (default: stdout)")
def discover(site_file: str, site: str, tags: tuple[str, ...], folder: str | None, output: str | None) -> None:
    """List the machines a site has (vSphere VMs, AWS DRS source servers) and write a runbook skeleton of them."""
    # Like `doctor`, it calls the providers' SDKs here, with this machine's credentials.
    import activities.sites.registry as registry

    try:
        sites = read_site_file(Path(site_file))
    except SiteFileError as error:
        err.print(str(error), markup=False)
        sys.exit(REFUSED)
    if site not in sites.parsed:
        hint = did_you_mean(site, sites.parsed) or f"; it has {', '.join(sites.parsed)}"
        err.print(f"{site_file}: unknown site '{site}'{hint}", markup=False)
        sys.exit(USAGE)
    config = sites.parsed[site]
    if folder and config.provider != "vsphere":
        err.print(f"--folder lists vSphere VM folders; site '{site}' has provider {config.provider}", markup=False)
        sys.exit(USAGE)
    filters = Filters(tags=_tags(tags), folder=folder)
    try:
        found = registry.discover(SiteRef(runbook=sites.name, name=site, config=config), filters)
    except registry.ProviderError as error:
        err.print(str(error), markup=False)
        sys.exit(REFUSED)
    if found is None:
        err.print(f"site '{site}' is a {config.provider} site: its machines are the processes the runbook starts, "
                  f"so there is nothing to discover; declare them under machines:", markup=False)
        sys.exit(REFUSED)
    if not found:
        err.print(f"site '{site}' has no machine matching {filters.describe()}", markup=False)
        sys.exit(REFUSED)
    try:
        # DRS source servers replicate INTO an AWS site: it is the recovery site; a vSphere site's VMs are protected.
        text = skeleton(sites, site, found, filters, site_file, "target" if config.provider == "aws" else "source")
    except SiteFileError as error:
        err.print(str(error), markup=False)
        sys.exit(REFUSED)
    if output:
        Path(output).write_text(text)
        err.print(f"{len(found)} machine(s) of site {site} written to {output}", markup=False)
    else:
        out.print(text, markup=False, end="", soft_wrap=True)


COMMANDS = (discover,)
