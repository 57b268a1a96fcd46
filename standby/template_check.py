"""A check of one parsed template against its context: every name, key, filter, test and operator it uses.

Runbook templates fill values into commands and prompts; they do not program. The check accepts names of
the context, keys of its namespaces written out (`endpoints.db`), the filters and tests of `FILTERS` and
`TESTS`, comparisons, `~`, `+` and `-`, `{% if %}`, `{% for %}` and `{% set %}`, and refuses the rest with
the reason: a call, an attribute that starts with `_`, `attr`, `*` on text, a division that may be by zero.
What it accepts renders in the sandbox without an error for the values its context gives.
"""

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import nodes

from standby.template_expressions import ExpressionChecker
from standby.template_kinds import (
    ANY,
    BOOLEAN,
    NUMBER,
    STRING,
    Kind,
    Namespace,
    TupleOf,
    common,
    describe,
    is_iterable,
    item_of,
)

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

class _Checker(ExpressionChecker):
    """Walks statements, and through ExpressionChecker their expressions; recursion is bounded by MAX_DEPTH."""

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


_STATEMENT_HANDLERS: dict[type[nodes.Node], Callable[[Any, Any], None]] = {
    nodes.Output: _Checker.output, nodes.If: _Checker.if_, nodes.For: _Checker.for_, nodes.Assign: _Checker.assign,
    nodes.AssignBlock: _Checker.assign_block, nodes.With: _Checker.with_, nodes.FilterBlock: _Checker.filter_block,
}
