"""A check of one parsed template against its context: every name, key, filter, test and operator it uses.

Runbook templates fill values into commands and prompts; they do not program. The check accepts names of
the context, keys of its namespaces written out (`endpoints.db`), the filters and tests of `FILTERS` and
`TESTS`, comparisons, `~`, `+` and `-`, `{% if %}`, `{% for %}` and `{% set %}`, and refuses the rest with
the reason: a call, an attribute that starts with `_`, `attr`, `*` on text, a division that may be by zero.
What it accepts renders in the sandbox without an error for the values its context gives.
"""

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.sandbox import SandboxedEnvironment

from standby.suggest import Vocabulary
from standby.template_filters import FILTERS, TESTS, Signature, containment
from standby.template_kinds import (
    ANY,
    BOOLEAN,
    NONE,
    NUMBER,
    STRING,
    Kind,
    ListOf,
    Namespace,
    OneOf,
    TupleOf,
    common,
    describe,
    is_iterable,
    item_of,
    members,
    ordered_alike,
)

ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
MAX_DEPTH = 32
LOOP = Namespace({"index": NUMBER, "index0": NUMBER, "revindex": NUMBER, "revindex0": NUMBER, "first": BOOLEAN,
                  "last": BOOLEAN, "length": NUMBER, "depth": NUMBER, "depth0": NUMBER}, "the loop's counters")
_STATEMENTS: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends", nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from",
    nodes.Macro: "macro", nodes.CallBlock: "call", nodes.Block: "block", nodes.ExprStmt: "do",
}


def check(tree: nodes.Template, context: Mapping[str, Kind]) -> list[str]:
    """Every reason the template would fail or reach outside its sandbox; empty when it is safe to render."""
    deepest = _depth(tree)
    if deepest > MAX_DEPTH:
        return [f"the template nests deeper than {MAX_DEPTH} levels, the most a runbook template may"]
    checker = _Checker(dict(context))
    checker.statements(tree.body)
    return list(dict.fromkeys(checker.problems))


def _depth(tree: nodes.Node) -> int:
    """How deep the tree goes, found without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


class _Checker:
    """Walks statements and expressions; recursion is bounded by MAX_DEPTH, checked first."""

    def __init__(self, context: dict[str, Kind]):
        self.scopes = [context]
        self.problems: list[str] = []

    def refuse(self, node: nodes.Node, message: str) -> Kind:
        line = getattr(node, "lineno", 1)
        self.problems.append(message + (f" (line {line} of the template)" if line > 1 else ""))
        return ANY

    # statements

    def statements(self, body: list[nodes.Node] | list[nodes.Stmt]) -> None:
        for node in body:
            handler = _STATEMENT_HANDLERS.get(type(node))
            if handler is not None:
                handler(self, node)
            else:
                word = _STATEMENTS.get(type(node), type(node).__name__.lower())
                self.refuse(node, f"'{{% {word} %}}' is not available in runbook templates; "
                                  "use {{ }}, {% if %}, {% for %} and {% set %}")

    def output(self, node: nodes.Output) -> None:
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                self.expr(child)

    def branch(self, body: list[nodes.Node]) -> dict[str, Kind]:
        """Check a body in a scope of its own; what it sets."""
        self.scopes.append({})
        self.statements(body)
        return self.scopes.pop()

    def if_(self, node: nodes.If) -> None:
        self.expr(node.test)
        branches = [self.branch(node.body)]
        for elif_ in node.elif_:
            self.expr(elif_.test)
            branches.append(self.branch(elif_.body))
        branches.append(self.branch(node.else_))
        # A name set in every branch (an else included) is set afterwards; one set in some only may be undefined.
        for name in set.intersection(*(set(b) for b in branches)):
            self.scopes[-1][name] = common(b[name] for b in branches)

    def for_(self, node: nodes.For) -> None:
        over = self.expr(node.iter)
        if node.recursive:
            self.refuse(node, "recursive loops are not available in runbook templates")
        if not is_iterable(over):
            self.refuse(node.iter, f"cannot loop over {describe(over)}")
        self.scopes.append({"loop": LOOP})
        self.assign_target(node.target, item_of(over))
        if node.test is not None:
            self.expr(node.test)
        self.statements(node.body)
        self.scopes.pop()
        self.branch(node.else_)

    def assign(self, node: nodes.Assign) -> None:
        self.assign_target(node.target, self.expr(node.node))

    def assign_block(self, node: nodes.AssignBlock) -> None:
        self.branch(node.body)
        if node.filter is not None:
            self.filter_(node.filter, STRING)
        self.assign_target(node.target, STRING)

    def with_(self, node: nodes.With) -> None:
        kinds = [self.expr(value) for value in node.values]
        self.scopes.append({})
        for target, kind in zip(node.targets, kinds, strict=True):
            self.assign_target(target, kind)
        self.statements(node.body)
        self.scopes.pop()

    def filter_block(self, node: nodes.FilterBlock) -> None:
        self.branch(node.body)
        self.filter_(node.filter, STRING)

    def assign_target(self, target: nodes.Node, kind: Kind) -> None:
        if isinstance(target, nodes.Name):
            self.scopes[-1][target.name] = kind
        elif isinstance(target, nodes.Tuple):
            items = kind.items if isinstance(kind, TupleOf) and len(kind.items) == len(target.items) else None
            if items is None and kind != ANY:
                self.refuse(target, f"cannot unpack {describe(kind)} into {len(target.items)} names")
            for position, item in enumerate(target.items):
                self.assign_target(item, items[position] if items else ANY)
        else:
            self.refuse(target, "only plain names can be set in runbook templates")

    # expressions

    def expr(self, node: nodes.Node) -> Kind:
        handler = _EXPRESSION_HANDLERS.get(type(node))
        if handler is None:
            return self.refuse(node, f"{_describe_node(node)} is not available in runbook templates")
        return handler(self, node)

    def const(self, node: nodes.Const) -> Kind:
        value = node.value
        if isinstance(value, bool):
            return BOOLEAN
        if isinstance(value, (int, float)):
            return NUMBER
        return STRING if isinstance(value, str) else NONE

    def name(self, node: nodes.Name) -> Kind:
        for scope in reversed(self.scopes):
            if node.name in scope:
                return scope[node.name]
        known = Vocabulary(name for scope in self.scopes for name in scope if name != "loop")
        hint = known.hint(node.name) or f"; available: {known.listing()}"
        return self.refuse(node, f"unknown template variable '{node.name}'{hint}")

    def getattr_(self, node: nodes.Getattr) -> Kind:
        return self.member(node, self.expr(node.node), node.attr)

    def getitem(self, node: nodes.Getitem) -> Kind:
        base = self.expr(node.node)
        if isinstance(node.arg, nodes.Slice):
            return self.slice_(node.arg, base)
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            return self.member(node, base, node.arg.value)
        self.expr(node.arg)
        return self.refuse(node, "a key must be written out, e.g. endpoints.db or endpoints['db'], so that "
                                 "validation can check it")

    def member(self, node: nodes.Node, base: Kind, key: str) -> Kind:
        if key.startswith("_"):
            return self.refuse(node, f"'{key}' is not allowed: names that start with '_' reach Python internals, "
                                     "outside the template sandbox")
        if base == ANY:
            return ANY
        if isinstance(base, OneOf):
            return common(self.member(node, kind, key) for kind in base.kinds)
        if not isinstance(base, Namespace):
            return self.refuse(node, f"{describe(base)} has no attribute or key '{key}'; use a filter, "
                                     f"e.g. {{{{ value | upper }}}}")
        if key not in base.fields:
            known = Vocabulary(base.fields)
            hint = known.hint(key) or (f"; it has {known.listing()}" if base.fields else "; it is empty")
            return self.refuse(node, f"unknown key '{key}' of {base.what}{hint}")
        return base.fields[key]

    def slice_(self, node: nodes.Slice, base: Kind) -> Kind:
        for part in (node.start, node.stop, node.step):
            if part is not None and self.expr(part) not in (NUMBER, ANY):
                self.refuse(part, "a slice takes numbers")
        if isinstance(node.step, nodes.Const) and node.step.value == 0:
            self.refuse(node, "a slice step cannot be 0")
        if not all(kind in (STRING, ANY) or isinstance(kind, (ListOf, TupleOf)) for kind in members(base)):
            return self.refuse(node, f"cannot slice {describe(base)}")
        return ListOf(item_of(base)) if isinstance(base, TupleOf) else base

    def filter_node(self, node: nodes.Filter) -> Kind:
        return self.filter_(node, self.expr(node.node) if node.node is not None else STRING)

    def filter_(self, node: nodes.Filter, operand: Kind) -> Kind:
        spec = self.signature(node, FILTERS, "filter")
        given = self.arguments(node, spec, operand)
        return ANY if spec is None else spec.result(operand, [given[i] for i in sorted(given)])

    def test(self, node: nodes.Test) -> Kind:
        operand = self.expr(node.node)
        self.arguments(node, self.signature(node, TESTS, "test"), operand)
        return BOOLEAN

    def signature(self, node: nodes.Filter | nodes.Test, table: Mapping[str, Signature], what: str) -> Signature | None:
        spec = table.get(node.name)
        if spec is not None:
            return spec
        jinja = ENV.filters if what == "filter" else ENV.tests
        if node.name in jinja:
            self.refuse(node, f"{what} '{node.name}' is not available in runbook templates; "
                              f"{_UNAVAILABLE.get(node.name, 'available: ' + ', '.join(sorted(table)))}")
        else:
            self.refuse(node, f"unknown {what} '{node.name}'{Vocabulary(jinja).hint(node.name)}")
        return None

    def arguments(self, node: nodes.Filter | nodes.Test, spec: Signature | None, operand: Kind) -> dict[int, Kind]:
        """The kinds of the arguments by position; each is checked even when the filter itself is refused."""
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            self.refuse(node, "*args and **kwargs are not available in runbook templates")
        given = {position: self.expr(arg) for position, arg in enumerate(node.args)}
        for keyword in node.kwargs:
            value = self.expr(keyword.value)
            position = spec.position(str(keyword.key)) if spec is not None else None
            if spec is not None and position is None:
                self.refuse(keyword, f"'{node.name}' takes no argument '{keyword.key}'")
            elif position is not None and position in given:
                self.refuse(keyword, f"'{node.name}' is given argument '{keyword.key}' twice")
            elif position is not None:
                given[position] = value
        for problem in spec.problems(operand, given) if spec is not None else ():
            self.refuse(node, f"'{node.name}': {problem}")
        return given

    def compare(self, node: nodes.Compare) -> Kind:
        left = self.expr(node.expr)
        for operand in node.ops:
            right = self.expr(operand.expr)
            if operand.op in ("lt", "gt", "lteq", "gteq") and not ordered_alike(left, right):
                self.refuse(node, f"cannot order {describe(left)} against {describe(right)}")
            problem = containment(left, right) if operand.op in ("in", "notin") else None
            if problem:
                self.refuse(node, problem)
            left = right
        return BOOLEAN

    def arithmetic(self, node: nodes.BinExpr) -> Kind:
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(node, nodes.Pow):
            return self.refuse(node, "'**' is not available in runbook templates")
        if ANY in (left, right):
            return ANY
        if isinstance(node, nodes.Add) and left == right and (left in (STRING, NUMBER) or isinstance(left, ListOf)):
            return left
        if left != NUMBER or right != NUMBER:
            hint = "; join strings with ~" if STRING in (left, right) else ""
            return self.refuse(node, f"cannot use '{node.operator}' on {describe(left)} and {describe(right)}{hint}")
        if isinstance(node, (nodes.Div, nodes.FloorDiv, nodes.Mod)) and not _nonzero(node.right):
            return self.refuse(node, f"'{node.operator}' needs a number other than 0 written out on its right")
        return NUMBER

    def unary(self, node: nodes.UnaryExpr) -> Kind:
        kind = self.expr(node.node)
        if isinstance(node, nodes.Not):
            return BOOLEAN
        if kind not in (NUMBER, ANY):
            return self.refuse(node, f"cannot use '{node.operator}' on {describe(kind)}")
        return kind

    def logic(self, node: nodes.And | nodes.Or) -> Kind:
        return common([self.expr(node.left), self.expr(node.right)])

    def concat(self, node: nodes.Concat) -> Kind:
        for child in node.nodes:
            self.expr(child)
        return STRING

    def cond(self, node: nodes.CondExpr) -> Kind:
        self.expr(node.test)
        if node.expr2 is None:
            self.expr(node.expr1)
            return self.refuse(node, "an inline if needs an else: {{ 'a' if x else 'b' }}")
        return common([self.expr(node.expr1), self.expr(node.expr2)])

    def sequence(self, node: nodes.List | nodes.Tuple) -> Kind:
        kinds = [self.expr(item) for item in node.items]
        return TupleOf(tuple(kinds)) if isinstance(node, nodes.Tuple) else ListOf(common(kinds) if kinds else ANY)

    def mapping(self, node: nodes.Dict) -> Kind:
        fields: dict[str, Kind] = {}
        for pair in node.items:
            if not (isinstance(pair.key, nodes.Const) and isinstance(pair.key.value, str)):
                self.refuse(pair, "a mapping's keys must be strings written out")
            else:
                fields[pair.key.value] = self.expr(pair.value)
        return Namespace(fields)

    def call(self, node: nodes.Call) -> Kind:
        return self.refuse(node, "templates cannot call functions or methods; use a filter, e.g. {{ app | upper }}")


def _nonzero(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, (int, float)) and node.value != 0


def _describe_node(node: nodes.Node) -> str:
    return f"'{type(node).__name__}'"


_UNAVAILABLE = {
    "attr": "it reads Python attributes by name; use endpoints.db or endpoints['db']",
    "map": "it reads attributes by name", "select": "it calls tests by name", "reject": "it calls tests by name",
    "selectattr": "it reads attributes by name", "rejectattr": "it reads attributes by name",
    "groupby": "it reads attributes by name", "random": "a template renders the same every time",
    "format": "join strings with ~ instead", "items": "use dictsort, which gives a list",
    **dict.fromkeys(("unique", "reverse"), "it gives a one-pass iterator; use sort"),
    **dict.fromkeys(("first", "last", "min", "max"), "it fails on an empty value"),
}

_STATEMENT_HANDLERS: dict[type[nodes.Node], Callable[[Any, Any], None]] = {
    nodes.Output: _Checker.output, nodes.If: _Checker.if_, nodes.For: _Checker.for_, nodes.Assign: _Checker.assign,
    nodes.AssignBlock: _Checker.assign_block, nodes.With: _Checker.with_, nodes.FilterBlock: _Checker.filter_block,
}
_EXPRESSION_HANDLERS: dict[type[nodes.Node], Callable[[Any, Any], Kind]] = {
    nodes.Const: _Checker.const, nodes.Name: _Checker.name, nodes.Getattr: _Checker.getattr_,
    nodes.Getitem: _Checker.getitem, nodes.Filter: _Checker.filter_node, nodes.Test: _Checker.test,
    nodes.Compare: _Checker.compare, nodes.Concat: _Checker.concat, nodes.CondExpr: _Checker.cond,
    nodes.List: _Checker.sequence, nodes.Tuple: _Checker.sequence, nodes.Dict: _Checker.mapping,
    nodes.Call: _Checker.call, nodes.And: _Checker.logic, nodes.Or: _Checker.logic, nodes.Not: _Checker.unary,
    nodes.Neg: _Checker.unary, nodes.Pos: _Checker.unary,
    **{kind: _Checker.arithmetic for kind in (nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod,
                                              nodes.Pow)},
}
