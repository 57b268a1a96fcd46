"""Hostile and huge runbooks: refused at the limit they cross, or validated, in bounded time, never a traceback.

The time bounds here only catch a hang or a quadratic blow-up on a shared machine; bench/validate.py
measures the real figures (and peak memory, in a process of its own).
"""

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.validate import alias_bomb, chain_runbook, deep_nesting
from standby.cli import main
from standby.compose import MAX_BYTES, MAX_DEPTH, MAX_VALUES
from standby.loader import check

# CPU seconds of this process, not wall time: a guard against a quadratic blow-up that holds on a loaded machine.
GUARD = 10.0


def timed_check(path: Path) -> tuple[list[str], float]:
    started = time.process_time()
    _, issues = check(path)
    return [f"{i.line}:{i.column}: {i.path}: {i.message}" for i in issues], time.process_time() - started


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "runbook.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_an_alias_bomb_of_a_million_billion_values_is_refused_at_the_limit(tmp_path: Path) -> None:
    issues, took = timed_check(write(tmp_path, alias_bomb(levels=15)))
    assert issues == [f"8:12: sites.a5[0]: the runbook expands to more than {MAX_VALUES:,} values (an alias counts "
                      f"every value it repeats); a runbook may hold at most {MAX_VALUES:,}"]
    assert took < GUARD


def test_nesting_a_hundred_thousand_levels_deep_is_refused_at_the_limit(tmp_path: Path) -> None:
    issues, took = timed_check(write(tmp_path, deep_nesting(100_000)))
    assert issues == [f"3:{MAX_DEPTH + 4}: sites.a{'[0]' * (MAX_DEPTH - 2)}: the runbook nests deeper than "
                      f"{MAX_DEPTH} levels, the most a runbook may"]
    assert took < GUARD


def test_a_file_larger_than_the_limit_is_not_read(tmp_path: Path) -> None:
    issues, _ = timed_check(write(tmp_path, "#" * (MAX_BYTES + 1)))
    assert issues == ["1:1: (document): the file is larger than 4 MiB, the most a runbook may be"]


def test_a_file_that_is_not_utf8_is_no_runbook(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(write(tmp_path, b"runbook: \xff\xfe\n"))])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].endswith(
        ":1:1: (document): not a text file: byte 9 is not UTF-8; save the runbook as UTF-8")


def test_a_chain_of_thousands_of_apps_validates_without_recursion(tmp_path: Path) -> None:
    issues, took = timed_check(write(tmp_path, chain_runbook(3000)))
    assert issues == []
    assert took < GUARD


def test_a_cycle_through_thousands_of_apps_is_named_once_and_briefly(tmp_path: Path) -> None:
    text = chain_runbook(3000).replace("a00000: {machines: [m00000]",
                                       "a00000: {machines: [m00000], depends_on: [a02999]")
    issues, took = timed_check(write(tmp_path, text))
    cycle = " -> ".join(f"a{i:05d}" for i in (0, 2999, 2998, 2997, 2996, 2995))
    ending = " -> ".join(f"a{i:05d}" for i in (5, 4, 3, 2, 1, 0))
    assert [issue.split(": ", 2)[2] for issue in issues] == [
        f"dependency cycle: {cycle} -> ... (2989 more) -> {ending}; remove one of these depends_on"]
    assert took < GUARD


def test_thousands_of_misspelt_names_get_their_hints_quickly(tmp_path: Path) -> None:
    text = chain_runbook(3000).replace("depends_on: [a", "depends_on: [b")
    issues, took = timed_check(write(tmp_path, text))
    assert len(issues) == 2999
    assert issues[0].endswith("apps.a00001.depends_on[0]: unknown app 'b00000' (did you mean 'a00000'?)")
    assert took < GUARD


ODD = {"unclosed lists": "- [\n" * 5000, "unclosed mappings": "{" * 50_000, "recursive root": "&a [*a]",
       "python tag": "a: !!python/object:os.system x\n", "a key repeated": "a: 1\n" * 60_000,
       "complex key": "? [a, b]\n: c\n", "merge of nothing": "<<: *nope\n"}


@pytest.mark.parametrize("case", sorted(ODD))
def test_odd_yaml_is_an_issue_and_never_a_traceback(tmp_path: Path, case: str) -> None:
    started = time.process_time()
    result = CliRunner().invoke(main, ["validate", str(write(tmp_path, ODD[case]))])
    assert time.process_time() - started < GUARD
    assert result.exit_code in (1, 2)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
