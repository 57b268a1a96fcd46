"""Runbook templates: the check refuses what would fail or leave the sandbox, and what it accepts renders.

The property test builds templates from fragments of Jinja (names, keys, filters, tests, operators, blocks)
and holds the check to its promise: a template with no problems renders, against the values a step gives,
without TemplateFailed; and `render` never raises anything but TemplateFailed.
"""

import inspect

import jinja2.filters
import jinja2.tests
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standby import templates
from standby.template_check import MAX_DEPTH
from standby.template_filters import FILTERS, TESTS

PROCESS = templates.process_context(["db", "api"])
# Values as the local provider and the workflows fill them in; `data` and `python` are paths.
PROCESS_VALUES = {"runbook": "shop", "site": "dr", "app": "api", "machine": "app1", "port": 18201,
                  "data": "/srv/standby/dr/app1/data", "python": "/usr/bin/python3", "endpoints": {"db": 18001,
                                                                                                   "api": 18002}}
HOOK_VALUES = {"runbook": "shop", "operation": "failover", "mode": "recovery", "site": "primary", "target": "dr",
               "group": "services", "app": "", "recovery_point": "2026-01-01T00:00:00+00:00",
               "python": "/usr/bin/python3"}


@pytest.mark.parametrize(("text", "problem"), [
    ("{{ group | uper }}", "unknown filter 'uper' (did you mean 'upper'?)"),
    ("{% if group is nosuchtest %}x{% endif %}", "unknown test 'nosuchtest'"),
    ("{{ ''.__class__ }}", "'__class__' is not allowed: names that start with '_' reach Python internals, "
                                   "outside the template sandbox"),
    ("{{ group | attr('__class__') }}", "filter 'attr' is not available in runbook templates; it reads Python "
                                        "attributes by name; use endpoints.db or endpoints['db']"),
    ("{{ cycler }}", "unknown template variable 'cycler'; available: app, group, mode, operation, python, "
                     "recovery_point, runbook, site, target"),
    ("{{ app.upper() }}", "templates cannot call functions or methods; use a filter, e.g. {{ app | upper }}"),
    ("{{ site.name }}", "a string has no attribute or key 'name'; use a filter, e.g. {{ value | upper }}"),
    ("{{ app + 1 }}", "cannot use '+' on a string and a number; join strings with ~"),
    ("{{ 'x' * 100000000 }}", "cannot use '*' on a string and a number; join strings with ~"),
    ("{{ 9 ** 9 ** 9 }}", "'**' is not available in runbook templates"),
    ("{{ 1 / 0 }}", "'/' needs a number other than 0 written out on its right"),
    ("{{ 'a' if app }}", "an inline if needs an else: {{ 'a' if x else 'b' }}"),
    ("{% include 'other' %}", "'{% include %}' is not available in runbook templates; use {{ }}, {% if %}, "
                              "{% for %} and {% set %}"),
    ("{% if app %}{% set x = 1 %}{% endif %}{{ x }}", "unknown template variable 'x'; available: app, group, mode, "
                                                       "operation, python, recovery_point, runbook, site, target"),
    ("{{ app | first }}", "filter 'first' is not available in runbook templates; it fails on an empty value"),
    ("{{ app | replace('-') }}", "'replace': argument 'new' must be given"),
    ("{{ group }}\n{{ grup }}", "unknown template variable 'grup' (did you mean 'group'?) (line 2 of the template)"),
    ("{{ " + "[" * 40 + "1" + "]" * 40 + " }}", f"the template nests deeper than {MAX_DEPTH} levels, the most a "
                                                "runbook template may"),
    ("{{ " + "not " * 5000 + "app }}", "the template nests too deeply to read; split it"),
])
def test_a_hook_template_problem_is_named(text: str, problem: str) -> None:
    assert templates.problems(text, templates.HOOK_CONTEXT) == [problem]


@pytest.mark.parametrize(("text", "problem"), [
    ("{{ endpoints.dbx }}", "unknown key 'dbx' of the apps with an endpoint port (did you mean 'db'?)"),
    ("{{ endpoints[app] }}", "a key must be written out, e.g. endpoints.db or endpoints['db'], so that validation "
                             "can check it"),
    ("{{ port | join(',') }}", "'join': expects a string, list or mapping, not a number"),
    ("{{ port > 'a' }}", "cannot order a number against a string"),
    ("{{ 1 in app }}", "'in' a string looks for a string, not a number"),
    ("{% for p in port %}{% endfor %}", "cannot loop over a number"),
])
def test_a_start_template_problem_is_named(text: str, problem: str) -> None:
    assert templates.problems(text, PROCESS) == [problem]


@pytest.mark.parametrize("text", [
    "{{ port }}", "http://127.0.0.1:{{ endpoints.db }}", "{{ endpoints['api'] + 1 }}", "{{ app | upper }}",
    "{{ data ~ '/db' }}", "{% if port > 1024 %}high{% else %}low{% endif %}",
    "{% for name, port in endpoints | dictsort %}{{ name }}={{ port }}{% if not loop.last %},{% endif %}{% endfor %}",
    "{{ endpoints | join(',') }}", "{{ app | replace('p', 'q') | title }}", "{% set base = port - 1 %}{{ base // 2 }}",
    "{{ machine[:3] }}", "{{ port is odd }}", "{{ 'db' in endpoints }}", "{{ (port, app) | join('-') }}",
])
def test_what_a_start_argv_may_write_passes_and_renders(text: str) -> None:
    assert templates.problems(text, PROCESS) == []
    assert isinstance(templates.render(text, PROCESS_VALUES), str)


def test_plain_strings_are_not_templates() -> None:
    assert templates.problems("{ port }", PROCESS) == []
    assert templates.render("{ port }", PROCESS_VALUES) == "{ port }"


@pytest.mark.parametrize("text", ["{{ ''.__class__.__mro__ }}", "{{ missing }}", "{{ app + 1 }}", "{{ 1 / 0 }}",
                                  "{{ lipsum.__globals__ }}", "{{ app | attr('__class__') }}"])
def test_render_fails_with_one_exception_type_and_the_reason(text: str) -> None:
    with pytest.raises(templates.TemplateFailed) as failed:
        templates.render(text, {"app": "api"})
    assert failed.value.reason and failed.value.text == text
    assert str(failed.value) == f"template '{text}' failed: {failed.value.reason}"


def test_render_names_an_undefined_variable() -> None:
    with pytest.raises(templates.TemplateFailed, match="template '{{ grup }}' failed: 'grup' is undefined"):
        templates.render("{{ grup }}", HOOK_VALUES)


def test_the_filter_and_test_tables_name_jinja_parameters() -> None:
    for table, jinja in ((FILTERS, jinja2.filters.FILTERS), (TESTS, jinja2.tests.TESTS)):
        for name, signature in table.items():
            parameters = list(inspect.signature(jinja[name]).parameters)
            assert all(param is None or param in parameters for param, _ in signature.params), name


def test_contexts_name_what_the_steps_fill_in() -> None:
    assert set(templates.PROMPT_CONTEXT) == set(HOOK_VALUES) - {"python"}
    assert set(templates.HOOK_CONTEXT) == set(HOOK_VALUES)
    assert set(PROCESS) == set(PROCESS_VALUES)


NAMES = ["app", "port", "data", "endpoints.db", "endpoints['api']", "endpoints.dbx", "machine", "nosuch", "loop.index",
         "''.__class__", "endpoints", "1", "0", "'x'", "none", "true", "[1, 2]", "(app, port)", "{'k': 1}", "-port",
         "not app", "app[1:]", "(port if app else app)", "x", "v", "[]", "2.5", "loop.first"]
OPERATORS = [" + ", " - ", " ~ ", " * ", " / ", " // ", " % ", " and ", " or ", " == ", " < ", " in ", " not in ",
             " is odd and ", " is lt(3) and ", " is in(endpoints) or ", " if port else "]
FILTER_CALLS = [f" | {name}" for name in FILTERS] + [" | replace('a', 'b')", " | join(',')", " | default(1)",
                                                     " | int(5)", " | round(2)", " | attr('x')", " | uper"]


@st.composite
def expression(draw: st.DrawFn) -> str:
    """A Jinja expression of names, literals, operators and filters."""
    text = draw(st.sampled_from(NAMES))
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            text = f"({text}{draw(st.sampled_from(OPERATORS))}{draw(st.sampled_from(NAMES))})"
        else:
            text += draw(st.sampled_from(FILTER_CALLS))
    return text


@st.composite
def template(draw: st.DrawFn) -> str:
    """Text, expressions and blocks in some order."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        shape = draw(st.sampled_from(["{{ %s }}", "{%% if %s %%}y{%% else %%}n{%% endif %%}",
                                      "{%% for x in %s %%}{{ x }}{{ loop.index }}{%% endfor %%}",
                                      "{%% set v = %s %%}{{ v }}", "-"]))
        parts.append(shape % draw(expression()) if "%s" in shape else shape)
    return "".join(parts)


@settings(max_examples=300, deadline=1000, database=None)
@given(template())
def test_an_accepted_template_renders(text: str) -> None:
    if not templates.problems(text, PROCESS):
        templates.render(text, PROCESS_VALUES)


@settings(max_examples=200, deadline=1000, database=None)
@given(st.text(alphabet="{}%#|.()[]'\"_~+-*/<> abceflnoprstux0123456789", max_size=60))
def test_any_text_checks_and_renders_without_surprises(text: str) -> None:
    assert isinstance(templates.problems(text, PROCESS), list)
    try:
        templates.render(text, PROCESS_VALUES)
    except templates.TemplateFailed:
        pass
