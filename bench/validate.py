"""Benchmark: `standby validate` on large runbooks and on hostile files, with wall time and peak memory.

    python bench/validate.py [--machines 5000] [--chain 5000] [--plan]

Each case is validated in a fresh process (`python -m standby validate FILE`), so its peak RSS is its own:
a runbook of N machines (one app each, two waves per group), a chain of N apps each depending on the one
before, an alias bomb (a billion values in a few hundred bytes) and a value nested 100,000 levels deep.
It prints the wall time of the whole command, the time `loader.check` takes in-process (the validation
itself, without Python's start-up and imports), the peak RSS and the exit code. Targets: under 2 s and,
for the hostile files, under 256 MiB. `--plan` also times planning a failover of the chain, in-process.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.runbooks import generate, to_yaml  # noqa: E402
from standby.loader import check, load  # noqa: E402
from standby.plan import build  # noqa: E402


def machines_runbook(machines: int) -> str:
    """A runbook of N machines, one app each, in ten groups (the scale benchmark's shape)."""
    return to_yaml(generate(machines, 10, name="validate-machines"))


def chain_runbook(apps: int) -> str:
    """N apps in one group, each depending on the one before: the longest dependency chain N apps can form."""
    lines = ["runbook: validate-chain", "sites:", "  primary: {provider: local, port_base: 20000}",
             "  dr: {provider: local, port_base: 30000}", "protection: {source: primary, target: dr}", "machines:"]
    lines += [f"  m{i:05d}: {{}}" for i in range(apps)]
    lines.append("apps:")
    for i in range(apps):
        depends = f", depends_on: [a{i - 1:05d}]" if i else ""
        lines.append(f"  a{i:05d}: {{machines: [m{i:05d}]{depends}, start: [./app, --port, \"{{{{ port }}}}\"]}}")
    lines.append("groups:")
    lines.append("  - {name: chain, apps: [" + ", ".join(f"a{i:05d}" for i in range(apps)) + "]}")
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int = 9, width: int = 10) -> str:
    """`width` ** `levels` values in a few hundred bytes of anchors and aliases."""
    lines = ["runbook: bomb", "sites:", "  a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def deep_nesting(depth: int = 100_000) -> str:
    """One value nested `depth` lists deep."""
    return "runbook: deep\nsites:\n  a: " + "[" * depth + "]" * depth + "\n"


def measure(path: Path) -> dict[str, float]:
    """Wall time, peak RSS and exit code of `standby validate` in a fresh process; in-process check time."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "standby", "validate", str(path)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    started = time.perf_counter()
    check(path)
    return {"wall": wall, "check": time.perf_counter() - started, "rss_mib": usage.ru_maxrss / 1024,
            "exit": os.waitstatus_to_exitcode(status)}


def main() -> None:
    """Generate each case, validate it, print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=5000)
    parser.add_argument("--chain", type=int, default=5000)
    parser.add_argument("--plan", action="store_true", help="also time planning a failover of the chain")
    options = parser.parse_args()
    cases = {
        f"{options.machines}-machine runbook": machines_runbook(options.machines),
        f"{options.chain}-app dependency chain": chain_runbook(options.chain),
        "alias bomb (10^9 values)": alias_bomb(),
        "deep nesting (100,000 levels)": deep_nesting(),
    }
    print(f"{'case':34} {'size':>9} {'validate':>9} {'check':>8} {'peak RSS':>9} {'exit':>4}")
    with tempfile.TemporaryDirectory() as folder:
        for name, text in cases.items():
            path = Path(folder) / "runbook.yaml"
            path.write_text(text, encoding="utf-8")
            figures = measure(path)
            print(f"{name:34} {len(text) / 1024:>7.0f} K {figures['wall']:>8.2f}s {figures['check']:>7.2f}s "
                  f"{figures['rss_mib']:>5.0f} MiB {figures['exit']:>4}")
        if options.plan:
            path = Path(folder) / "chain.yaml"
            path.write_text(chain_runbook(options.chain), encoding="utf-8")
            runbook, started = load(path), time.perf_counter()
            build(runbook, "failover")
            print(f"plan of a failover of the {options.chain}-app chain: {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main()
