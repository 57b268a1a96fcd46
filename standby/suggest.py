"""Did-you-mean suggestions for misspelt names, in time linear in the name whatever the number of candidates."""

import difflib
import functools
from collections.abc import Iterable

# Above this many candidates difflib's pairwise comparison would make one look-up cost milliseconds;
# the one-edit index alone answers then.
_DIFFLIB_LIMIT = 200
# How many known names a message lists when it cannot suggest one.
LISTED = 10


class Vocabulary:
    """Known names, indexed on the first look-up so that each one costs the same however many names there are."""

    def __init__(self, names: Iterable[str]):
        self._known = set(names)

    def __contains__(self, name: object) -> bool:
        return name in self._known

    @functools.cached_property
    def names(self) -> list[str]:
        """The known names, sorted."""
        return sorted(self._known)

    @functools.cached_property
    def _by_deletion(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for name in self.names:
            for variant in _deletions(name):
                index.setdefault(variant, []).append(name)
        return index

    def closest(self, name: str) -> str | None:
        """The known name nearest to `name`: one letter off, or (among few names) alike by difflib's measure."""
        near = {c for variant in _deletions(name) for c in self._by_deletion.get(variant, []) if _one_edit(name, c)}
        near.discard(name)
        if len(name) > 1 and near:
            return max(sorted(near), key=lambda c: difflib.SequenceMatcher(None, name, c).ratio())
        if len(self._known) <= _DIFFLIB_LIMIT:
            matches = difflib.get_close_matches(name, self.names, n=1, cutoff=0.6)
            return matches[0] if matches else None
        return None

    def hint(self, name: str) -> str:
        """` (did you mean 'db'?)`, or an empty string."""
        match = self.closest(name)
        return f" (did you mean '{match}'?)" if match else ""

    def listing(self) -> str:
        """The known names for a message, the first few of many."""
        if len(self._known) <= LISTED:
            return ", ".join(self.names)
        return f"{', '.join(self.names[:LISTED])}, ... ({len(self.names)} in all)"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'db'?)`, or an empty string when nothing is close."""
    return Vocabulary(candidates).hint(name)


def _deletions(name: str) -> set[str]:
    return {name, *(name[:i] + name[i + 1:] for i in range(len(name)))}


def _one_edit(a: str, b: str) -> bool:
    """Whether b is a with one letter changed, added, removed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))
