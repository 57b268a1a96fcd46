"""Property tests: whatever an example runbook is mutated into, `standby validate` answers 0, 1 or 2, in time.

Each example takes an example runbook and applies a few careless edits to its lines (delete, duplicate,
swap, re-indent, truncate, change a scalar or a name), then runs `standby validate` in-process. It must
never raise, never print a traceback, print each issue as FILE:LINE:COL: PATH: message, and finish
within Hypothesis's deadline.
"""

import re
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from standby.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [*sorted((ROOT / "runbooks").glob("*.yaml")), ROOT / "tests" / "runbooks" / "valid" / "diamond.yaml"]
TEXTS = [path.read_text(encoding="utf-8") for path in EXAMPLES]
ISSUE = re.compile(r"^.+:\d+:\d+: (warning: )?\S.*: .+$")
SUMMARY = re.compile(r"^(\d+ issue\(s\) found.*|\d+ warning\(s\).*)$")
# Values people (and editors) put where they should not: YAML 1.1 words, numbers out of range, broken syntax,
# templates, anchors, tags, very long or non-ASCII text.
SCALARS = ["", "-5", "-1s", "0", "1e400", "1.0e+400", ".nan", "yes", "no", "on", "~", "null", "[", "]", "{", "}",
           "'", '"', "&a", "*a", "<<: *a", "!!set", "!foo", "{{ x }}", "{{ group | uper }}", "{{ ''.__class__ }}",
           "{% for %}", "2024-13-45", "0x1F", "1:30", "x" * 300, "ÿ€✓", "a: b", "- a", "#", "\t", "65536",
           "99999999999d"]
# A hang or a slow path shows as an example over the deadline; examples are few enough for about 10 s in all.
BOUNDED = settings(deadline=2000, max_examples=120, database=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """An example runbook after one to four careless edits."""
    lines = draw(st.sampled_from(TEXTS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "truncate", "scalar", "name"]))
        lines = _edit(draw, lines, at, edit)
    return "\n".join(lines) + "\n"


def _edit(draw: st.DrawFn, lines: list[str], at: int, edit: str) -> list[str]:
    line = lines[at]
    if edit == "delete":
        return lines[:at] + lines[at + 1:]
    if edit == "duplicate":
        return lines[:at + 1] + [line] + lines[at + 1:]
    if edit == "swap":
        other = draw(st.integers(0, len(lines) - 1))
        lines = list(lines)
        lines[at], lines[other] = lines[other], lines[at]
        return lines
    if edit == "indent":
        shift = draw(st.integers(-4, 4))
        return lines[:at] + [" " * max(0, shift) + line[max(0, -shift):]] + lines[at + 1:]
    if edit == "truncate":
        cut = draw(st.integers(0, len(line)))
        return lines[:at] + [line[:cut]]
    tokens = re.findall(r"[A-Za-z0-9_.-]+", line)
    if not tokens:
        return lines
    token = draw(st.sampled_from(tokens))
    if edit == "scalar":
        replacement = draw(st.sampled_from(SCALARS) | st.text(max_size=8))
    else:
        replacement = token[:-1] + draw(st.sampled_from("xyz0_")) if len(token) > 1 else token + "x"
    return lines[:at] + [line.replace(token, replacement, 1)] + lines[at + 1:]


def _validate(text: str, strict: bool = False) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "runbook.yaml"
        path.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(main, ["validate", *(["--strict"] if strict else []), str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.stdout, result.stderr


@BOUNDED
@given(mutated(), st.booleans())
def test_validate_answers_every_mutation(text: str, strict: bool) -> None:
    code, stdout, stderr = _validate(text, strict)
    assert code in (0, 1, 2)
    assert "Traceback" not in stdout + stderr
    lines = stderr.splitlines()
    assert all(ISSUE.match(line) for line in lines[:-1]), lines
    if code == 0:
        assert stdout.endswith(")\n") and ": ok (runbook " in stdout
    if lines:
        assert SUMMARY.match(lines[-1]), lines[-1]


@settings(BOUNDED, max_examples=40)
@given(st.binary(max_size=400))
def test_validate_answers_any_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "runbook.yaml"
        path.write_bytes(data)
        result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (0, 1, 2)
    assert "Traceback" not in result.output
