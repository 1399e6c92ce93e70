"""What `wikimem bootstrap` looks for, as data: the files of the `wikimem.bootstrap` data
package (the repository's `bootstrap/`), each read and compiled once.

- `sources.txt`: which files of the tree play which role (readme, docs, decision, rules,
  manifest), which are ignored, which folders hold modules, and which files are a module's
  header or listed as its members (`layout`);
- `languages.txt`: file extension -> language (`layout`);
- `decision-patterns.txt`: the commit-message lines that state a decision (`decisions`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from wikimem import datafiles
from wikimem.capture.privacy import translate_glob


def data_file(name: str) -> str:
    """A file of the `wikimem.bootstrap` data package (the repository's `bootstrap/`)."""
    return datafiles.read_text("bootstrap", name)


def _lines(name: str) -> list[tuple[str, str]]:
    out = []
    for line in data_file(name).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            head, _, rest = line.partition(" ")
            out.append((head, rest.strip()))
    return out


def glob_regex(pattern: str) -> re.Pattern:
    """A case-insensitive regex for a glob (`privacy.translate_glob`: `*` within one folder,
    `**/` any folders, `[...]` a class)."""
    return re.compile(translate_glob(pattern) + r"\Z", re.I)


@dataclass(frozen=True)
class Sources:
    """`bootstrap/sources.txt`, compiled."""

    roles: tuple[tuple[str, re.Pattern], ...]  # (role, regex) in file order
    ignore: tuple[re.Pattern, ...]
    containers: tuple[str, ...]
    headers: tuple[str, ...]
    members: tuple[re.Pattern, ...]

    def role(self, path: str) -> str | None:
        for role, rx in self.roles:
            if rx.match(path):
                return role
        return None

    def ignored(self, path: str) -> bool:
        return any(rx.match(path) for rx in self.ignore)

    def is_member(self, name: str) -> bool:
        return any(rx.match(name) for rx in self.members)


@cache
def sources() -> Sources:
    roles, ignore, containers, headers, members = [], [], [], [], []
    for role, pattern in _lines("sources.txt"):
        if role == "ignore":
            ignore.append(glob_regex(pattern))
        elif role == "container":
            containers.append(pattern.strip("/").lower())
        elif role == "header":
            headers.append(pattern)
        elif role == "member":
            members.append(glob_regex(pattern))
        else:
            roles.append((role, glob_regex(pattern)))
    return Sources(tuple(roles), tuple(ignore), tuple(containers), tuple(headers),
                   tuple(members))


@cache
def decision_patterns() -> tuple[tuple[str, re.Pattern], ...]:
    """`bootstrap/decision-patterns.txt`: (label, regex) pairs."""
    return tuple((label, re.compile(rx, re.I)) for label, rx in _lines("decision-patterns.txt"))


@cache
def languages() -> dict[str, str]:
    """`bootstrap/languages.txt`: file extension -> language."""
    return {ext.lower(): name for ext, name in _lines("languages.txt")}
