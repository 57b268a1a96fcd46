"""Checks of `depends_on`: known apps, no later group, no cycle. Linear and without recursion, for any chain."""

from collections import deque

from standby.document import Document
from standby.issues import Issue
from standby.partial import Partial
from standby.suggest import Vocabulary

# A cycle through thousands of apps is named by its first and last few.
_SHOWN = 12


def detect_dependency_problems(partial: Partial, document: Document) -> list[Issue]:
    """depends_on names known apps in the same or an earlier group."""
    apps, groups = partial.apps, partial.groups
    if apps is None or groups is None:
        return []
    order = {app: rank for rank, (_, group) in enumerate(groups.valid()) for app in group.apps}
    names = {app: group.name for _, group in groups.valid() for app in group.apps}
    issues, known = [], Vocabulary(apps)
    for app_name, app in apps.valid():
        for index, dependency in enumerate(app.depends_on):
            path = ("apps", app_name, "depends_on", index)
            if dependency not in apps:
                issues.append(document.unknown(path, "app", dependency, known))
            elif dependency == app_name:
                issues.append(document.issue(path, f"app '{app_name}' depends on itself; remove it"))
            elif dependency in order and app_name in order and order[dependency] > order[app_name]:
                message = (
                    f"'{app_name}' (group '{names[app_name]}') depends on '{dependency}' in the later group "
                    f"'{names[dependency]}'; move '{dependency}' to group '{names[app_name]}' or an earlier one"
                )
                issues.append(document.issue(path, message))
    return issues


def detect_dependency_cycles(partial: Partial, document: Document) -> list[Issue]:
    """depends_on forms no cycle; each knot of apps that depend on each other is named once, by one cycle."""
    if partial.apps is None:
        return []
    valid = dict(partial.apps.valid())
    graph = {name: [d for d in app.depends_on if d in valid and d != name] for name, app in valid.items()}
    rank = {name: position for position, name in enumerate(graph)}
    issues = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        start = min(component, key=rank.__getitem__)
        cycle = _cycle_through(graph, start, set(component))
        index = valid[start].depends_on.index(cycle[1])
        message = f"dependency cycle: {_chain([*cycle, start])}; remove one of these depends_on"
        issues.append(document.issue(("apps", start, "depends_on", index), message))
    return issues


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, with an explicit stack instead of recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            successors = graph[node]
            while edge < len(successors) and successors[edge] in index:
                if successors[edge] in on_stack:
                    low[node] = min(low[node], index[successors[edge]])
                edge += 1
            if edge < len(successors):
                work.append((node, edge + 1))
                work.append((successors[edge], 0))
                continue
            if low[node] == index[node]:
                component: list[str] = []
                while not component or component[-1] != node:
                    component.append(stack.pop())
                    on_stack.discard(component[-1])
                found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def _cycle_through(graph: dict[str, list[str]], start: str, members: set[str]) -> list[str]:
    """The shortest cycle from `start` back to it inside one component, found breadth first."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in graph[node]:
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return path[::-1]
            if nxt in members and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start} is in a strongly connected component, so a cycle leads back to it")


def _chain(names: list[str]) -> str:
    if len(names) <= _SHOWN:
        return " -> ".join(names)
    half = _SHOWN // 2
    return f"{' -> '.join(names[:half])} -> ... ({len(names) - _SHOWN} more) -> {' -> '.join(names[-half:])}"
