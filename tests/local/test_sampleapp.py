"""The sample shop as real processes on 127.0.0.1: durable orders, torn-tail recovery, health through the tiers."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from activities.sites.local.processes import free_port, start_process, stop_process, wait_for_port
from sampleapp.db import LOG_NAME, encode_line
from sampleapp.launch import service_argv, service_env

Start = Callable[..., str]


def http(url: str, body: Any = None) -> tuple[int, bytes]:
    """Status and body of a GET (or a POST of `body` as JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[Start, dict[str, Path]]]:
    """Starts shop services by name; every one is stopped after the test."""
    pid_files: dict[str, Path] = {}

    def start(service: str, data: Path, upstream: str | None = None) -> str:
        port = free_port()
        pid_file = tmp_path / "run" / f"{service}-{port}.pid"
        argv = service_argv(service, port, data, upstream)
        start_process(argv, pid_file=pid_file, log_file=tmp_path / "run" / f"{service}.log", env=service_env())
        pid_files[service] = pid_file
        wait_for_port(port, timeout=10)
        return f"http://127.0.0.1:{port}"

    yield start, pid_files
    for pid_file in pid_files.values():
        stop_process(pid_file, timeout=2)


def test_db_stores_orders_with_consecutive_ids(services: tuple[Start, dict[str, Path]], tmp_path: Path) -> None:
    start, _ = services
    db = start("db", tmp_path / "db")
    assert http(f"{db}/orders", {"item": "tea", "qty": 2}) == (201, b'{"id": 1, "item": "tea", "qty": 2}\n')
    assert http(f"{db}/orders", {"item": "cake", "qty": 1})[0] == 201
    assert json.loads(http(f"{db}/orders")[1]) == [
        {"id": 1, "item": "tea", "qty": 2},
        {"id": 2, "item": "cake", "qty": 1},
    ]
    assert json.loads(http(f"{db}/orders/2")[1]) == {"id": 2, "item": "cake", "qty": 1}
    assert http(f"{db}/orders/3")[0] == 404
    assert json.loads(http(f"{db}/health")[1]) == {"status": "ok", "orders": 2}
    lines = (tmp_path / "db" / LOG_NAME).read_bytes().splitlines(keepends=True)
    assert lines == [encode_line({"id": 1, "item": "tea", "qty": 2}), encode_line({"id": 2, "item": "cake", "qty": 1})]


@pytest.mark.parametrize("body", [{"item": "", "qty": 1}, {"item": "tea", "qty": 0}, {"item": "tea", "qty": True}, [1]])
def test_db_refuses_invalid_orders(services: tuple[Start, dict[str, Path]], tmp_path: Path, body: Any) -> None:
    start, _ = services
    db = start("db", tmp_path / "db")
    assert http(f"{db}/orders", body)[0] == 400
    assert json.loads(http(f"{db}/health")[1])["orders"] == 0


def test_db_stops_cleanly_on_sigterm_and_keeps_its_orders(
    services: tuple[Start, dict[str, Path]], tmp_path: Path
) -> None:
    start, pid_files = services
    db = start("db", tmp_path / "db")
    http(f"{db}/orders", {"item": "tea", "qty": 2})
    assert stop_process(pid_files["db"], timeout=5) == "stopped"
    db = start("db", tmp_path / "db")
    assert http(f"{db}/orders", {"item": "jam", "qty": 3})[1] == b'{"id": 2, "item": "jam", "qty": 3}\n'
    assert len(json.loads(http(f"{db}/orders")[1])) == 2


@pytest.mark.parametrize(
    "tail",
    [
        b'{"crc":1,"id":3,"it',  # torn: the copy was taken in the middle of a write
        encode_line({"id": 3, "item": "tea", "qty": 1}).replace(b'"qty":1', b'"qty":9'),  # checksum mismatch
        encode_line({"id": 5, "item": "tea", "qty": 1}),  # out of sequence
        b"\x00\x00\x00\x00",  # zero-filled blocks after a crash
    ],
)
def test_db_cuts_an_invalid_tail_at_start(services: tuple[Start, dict[str, Path]], tmp_path: Path, tail: bytes) -> None:
    start, _ = services
    good = encode_line({"id": 1, "item": "tea", "qty": 2}) + encode_line({"id": 2, "item": "jam", "qty": 1})
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / LOG_NAME).write_bytes(good + tail + encode_line({"id": 3, "item": "late", "qty": 1}))
    db = start("db", tmp_path / "db")
    assert json.loads(http(f"{db}/health")[1])["orders"] == 2
    assert (tmp_path / "db" / LOG_NAME).read_bytes() == good
    assert json.loads(http(f"{db}/orders", {"item": "new", "qty": 1})[1])["id"] == 3


def test_tiers_forward_orders_and_report_health(services: tuple[Start, dict[str, Path]], tmp_path: Path) -> None:
    start, pid_files = services
    db = start("db", tmp_path / "db")
    api = start("api", tmp_path / "api", db)
    web = start("web", tmp_path / "web", api)
    assert http(f"{web}/orders", {"item": "<b>tea</b>", "qty": 2})[0] == 201
    assert json.loads(http(f"{api}/orders/1")[1])["item"] == "<b>tea</b>"
    status, page = http(f"{web}/")
    assert status == 200 and b"&lt;b&gt;tea&lt;/b&gt;" in page and b"<b>tea" not in page
    assert http(f"{api}/health")[0] == 200 and http(f"{web}/health")[0] == 200
    stop_process(pid_files["db"], timeout=5)
    assert http(f"{api}/health")[0] == 503
    assert http(f"{web}/health")[0] == 503
    assert http(f"{web}/")[0] == 502


def test_a_standby_db_answers_503_and_leaves_its_data_alone_until_sigusr1(tmp_path: Path) -> None:
    data, port, pid_file = tmp_path / "db", free_port(), tmp_path / "run" / "db.pid"
    argv = [*service_argv("db", port, data), "--standby"]
    pid = start_process(argv, pid_file=pid_file, log_file=tmp_path / "run" / "db.log", env=service_env())
    try:
        wait_for_port(port, timeout=10)
        assert http(f"http://127.0.0.1:{port}/health")[0] == 503
        assert http(f"http://127.0.0.1:{port}/orders", {"item": "tea", "qty": 1})[0] == 503
        assert not data.exists(), "a standby db created its data folder"
        data.mkdir()
        (data / LOG_NAME).write_bytes(encode_line({"id": 1, "item": "drained", "qty": 1}))
        os.kill(pid, signal.SIGUSR1)
        for _ in range(500):
            if http(f"http://127.0.0.1:{port}/health")[0] == 200:
                break
            time.sleep(0.01)
        assert http(f"http://127.0.0.1:{port}/orders", {"item": "jam", "qty": 1})[1] == (
            b'{"id": 2, "item": "jam", "qty": 1}\n')
        os.kill(pid, signal.SIGUSR1)  # a second promote changes nothing
        assert [o["item"] for o in json.loads(http(f"http://127.0.0.1:{port}/orders")[1])] == ["drained", "jam"]
    finally:
        stop_process(pid_file, timeout=2)
