"""The expression half of the template check: names, keys, filters, tests and operators, each given a kind.

An expression the check cannot prove harmless is refused with the reason; its kind is then ANY, so that one
mistake is reported once, not again by everything built on it.
"""

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import nodes

from standby.suggest import Vocabulary
from standby.template_filters import ENV, FILTERS, TESTS, UNAVAILABLE, Signature, containment
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
    item_of,
    members,
    ordered_alike,
)


class ExpressionChecker:
    """Kinds of expressions in scopes of names; collects the problems found."""

    def __init__(self, context: dict[str, Kind]):
        self.scopes = [context]
        self.problems: list[str] = []

    def refuse(self, node: nodes.Node, message: str) -> Kind:
        """Record a problem at a node (with its line when the template has several); its kind is unknown."""
        line = getattr(node, "lineno", 1)
        self.problems.append(message + (f" (line {line} of the template)" if line > 1 else ""))
        return ANY

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
                              f"{UNAVAILABLE.get(node.name, 'available: ' + ', '.join(sorted(table)))}")
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


_EXPRESSION_HANDLERS: dict[type[nodes.Node], Callable[[Any, Any], Kind]] = {
    kind: method
    for kinds, method in (
        ((nodes.Const,), ExpressionChecker.const), ((nodes.Name,), ExpressionChecker.name),
        ((nodes.Getattr,), ExpressionChecker.getattr_), ((nodes.Getitem,), ExpressionChecker.getitem),
        ((nodes.Filter,), ExpressionChecker.filter_node), ((nodes.Test,), ExpressionChecker.test),
        ((nodes.Compare,), ExpressionChecker.compare), ((nodes.Concat,), ExpressionChecker.concat),
        ((nodes.CondExpr,), ExpressionChecker.cond), ((nodes.List, nodes.Tuple), ExpressionChecker.sequence),
        ((nodes.Dict,), ExpressionChecker.mapping), ((nodes.Call,), ExpressionChecker.call),
        ((nodes.And, nodes.Or), ExpressionChecker.logic), ((nodes.Not, nodes.Neg, nodes.Pos), ExpressionChecker.unary),
        ((nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow),
         ExpressionChecker.arithmetic),
    )
    for kind in kinds
}
