"""The layers point one way: a test that reads every import of the tree and fails on one that breaks the rules.

    standby/ (the core, contracts, client)  imports nothing of workflows/, activities/ or standby.cli
    standby/cli/                            imports the core; never workflows/ or activities/
    workflows/                              imports the core and the contracts; never activities/
    activities/                             imports the core and the contracts; never workflows/ or the CLI
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (package of the importing module, prefix it must not import, why)
RULES = [
    ("standby", "workflows", "the core never imports workflows"),
    ("standby", "activities", "the core never imports activities"),
    ("workflows", "activities", "workflows never import activities: they share only the contracts"),
    ("workflows", "standby.cli", "workflows never import the CLI"),
    ("activities", "workflows", "activities never import workflows: they share only the contracts"),
    ("activities", "standby.cli", "activities never import the CLI"),
]
# The CLI is a leaf: nothing but the CLI itself imports it.
CLI = "standby.cli"
# The exceptions, and why: `standby doctor` checks what THIS machine's credentials reach at each site, so it
# runs the providers' checks in-process (imported inside the command, so no other command loads activities);
# `standby discover` lists what those credentials see of a site (VMs, DRS source servers) the same way.
ALLOWED = {("standby.cli.doctor", "activities.sites.registry"), ("standby.cli.discover", "activities.sites.registry")}


def module_name(path: Path, root: Path) -> str:
    """`standby/cli/__init__.py` -> `standby.cli`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, at any depth (also inside functions), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(root: Path) -> list[str]:
    """Every import under `root` that breaks a rule, as `file:line: module imports target (why)`."""
    out = []
    for package in ("standby", "workflows", "activities"):
        for path in sorted((root / package).rglob("*.py")):
            source = module_name(path, root)
            for line, target in imports(path):
                if any(source == owner and _within(target, allowed) for owner, allowed in ALLOWED):
                    continue
                where = f"{path.relative_to(root)}:{line}: {source} imports {target}"
                out += [f"{where} ({why})" for owner, banned, why in RULES
                        if _within(source, owner) and _within(target, banned)
                        and not (banned == "standby.cli" and _within(source, CLI))]
                if _within(target, CLI) and not _within(source, CLI) and source != "standby.__main__":
                    out.append(f"{where} (the CLI is a leaf: nothing outside it imports it)")
    return sorted(set(out))


def test_the_tree_keeps_the_import_rules() -> None:
    assert violations(ROOT) == []


def test_a_forbidden_import_is_reported_with_its_place(tmp_path: Path) -> None:
    """The check itself can fail: a scratch tree with one import of each forbidden kind."""
    for package in ("standby", "standby/cli", "workflows", "activities"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "workflows" / "bad.py").write_text("import os\n\nfrom activities.checks import probe\n")
    (tmp_path / "activities" / "bad.py").write_text("def f():\n    import workflows.registry\n")
    (tmp_path / "standby" / "core.py").write_text("from standby.cli import main\n")
    (tmp_path / "standby" / "cli" / "fine.py").write_text("from standby.cli import output\n")
    assert violations(tmp_path) == [
        "activities/bad.py:2: activities.bad imports workflows.registry (activities never import workflows: "
        "they share only the contracts)",
        "standby/core.py:1: standby.core imports standby.cli (the CLI is a leaf: nothing outside it imports it)",
        "standby/core.py:1: standby.core imports standby.cli.main (the CLI is a leaf: nothing outside it imports it)",
        "workflows/bad.py:3: workflows.bad imports activities.checks (workflows never import activities: "
        "they share only the contracts)",
        "workflows/bad.py:3: workflows.bad imports activities.checks.probe (workflows never import activities: "
        "they share only the contracts)",
    ]


# What workflow code may import: it runs outside the sandbox's checks (workflows.registry.RUNNER passes it through),
# so no clock, randomness, I/O or threads may reach it; dates are `workflow.now()`, sleeps are durable timers.
WORKFLOW_IMPORTS = {"__future__", "asyncio", "collections", "contextlib", "dataclasses", "datetime", "functools",
                    "pydantic", "standby", "temporalio", "typing", "workflows"}
CLOCKS = {"now", "utcnow", "today", "fromtimestamp"}


def nondeterministic(root: Path) -> list[str]:
    """Every import of workflows/ outside WORKFLOW_IMPORTS, and every clock read other than `workflow.now()`."""
    out = []
    for path in sorted((root / "workflows").rglob("*.py")):
        where = path.relative_to(root)
        out += [f"{where}:{line}: imports {target} (workflow code stays deterministic)"
                for line, target in imports(path) if target.split(".")[0] not in WORKFLOW_IMPORTS]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCKS
                    and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "workflow")):
                out.append(f"{where}:{node.lineno}: reads a clock ({ast.unparse(node.func)}; use workflow.now())")
    return out


def test_workflow_code_imports_and_reads_nothing_nondeterministic() -> None:
    assert nondeterministic(ROOT) == []


def test_a_clock_or_an_io_import_in_a_workflow_is_reported(tmp_path: Path) -> None:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "bad.py").write_text(
        "import random\nfrom datetime import datetime\n\n\ndef when():\n    return datetime.now()\n")
    assert nondeterministic(tmp_path) == [
        "workflows/bad.py:1: imports random (workflow code stays deterministic)",
        "workflows/bad.py:6: reads a clock (datetime.now; use workflow.now())",
    ]
