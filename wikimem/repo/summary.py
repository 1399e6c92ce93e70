"""What the folded `Repo` says about the project in a few words — its name, description,
languages and agent rules — shared by the pages, the session-start context (the project line
and the first rules) and the facts the optional LLM overview is written from.
"""

from __future__ import annotations

import json
import re

from wikimem.memory import one_line
from wikimem.project import Project
from wikimem.repo.fold import Repo, folded, log_stamp
from wikimem.repo.record import log_path

CONTEXT_RULES = 12


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def project_name(repo: Repo) -> str:
    for m in repo.of_role("manifest"):
        if m.get("name") and not m.get("error"):
            return str(m["name"])
    readme = repo.of_role("readme")
    if readme and readme[0].get("title") and readme[0]["title"] != readme[0]["path"]:
        return str(readme[0]["title"])
    return str(repo.tree.get("root_name") or "This project")


def project_description(repo: Repo) -> tuple[str, str]:
    """(description, the file it came from)."""
    for m in repo.of_role("manifest"):
        if m.get("description"):
            return str(m["description"]), m["path"]
    for r in repo.of_role("readme"):
        if r.get("intro"):
            return str(r["intro"][0]), r["path"]
    return "", ""


def language_counts(repo: Repo) -> list[str]:
    langs = repo.tree.get("languages") or {}
    return [f"{k} ({plural(int(v), 'file')})" for k, v in langs.items()][:6]


def project_line(repo: Repo) -> str:
    """One line for the session-start context: what the project is."""
    if repo.empty:
        return ""
    desc, _ = project_description(repo)
    langs = ", ".join(k for k in (repo.tree.get("languages") or {}))
    line = project_name(repo) + (f" — {one_line(desc, 220)}" if desc else "")
    extra = []
    if langs:
        extra.append(", ".join(langs.split(", ")[:3]))
    if repo.commits:
        extra.append(f"{plural(len(repo.commits), 'commit')} "
                     f"{repo.commits[0]['day']} to {repo.commits[-1]['day']}")
    if extra:
        line += f" ({'; '.join(extra)})"
    return line + ". Overview: `wikimem show project/overview.md`."


def _rule_items(repo: Repo):
    for s in ordered_rules(repo):
        for item in s.get("items") or []:
            if isinstance(item, dict):
                yield s, item


def ordered_rules(repo: Repo) -> list[dict]:
    order = {role_path: i for i, role_path in enumerate(
        ["agents.md", "claude.md", ".claude/claude.md", "gemini.md",
         ".github/copilot-instructions.md", ".cursorrules"])}
    return sorted(repo.of_role("rules"), key=lambda s: (order.get(s["path"].lower(), 99),
                                                         s["path"]))


# The files written for coding agents: their binding rules come before other files' (a
# CONVENTIONS.md, a copilot-instructions.md).
_AGENT_FILES = re.compile(r"^(?:(?:\.claude/)?claude\.md|agents\.md|gemini\.md|\.cursorrules|"
                          r"\.cursor/rules/.*)$", re.I)
# What binds: a rule that says never, always, must, do not...
_STRONG = re.compile(r"\b(?:never|always|must|mustn't|shall|do\s+not|don't|does\s+not\s+belong|"
                     r"required|mandatory|forbidden|prohibited|under\s+no\s+circumstances|"
                     r"only\s+ever)\b", re.I)
# ... or a plain instruction (an imperative verb first).
_IMPERATIVE = re.compile(
    r"^(?:\*\*)?(?:please\s+)?(?:use|run|keep|add|write|prefer|avoid|ask|put|make|check|"
    r"follow|read|update|test|commit|create|name|call|place|import|document|remove|delete|only|"
    r"ensure|stop|treat|return|wrap|log|raise|pin|mark|include|exclude|respect|verify|leave|"
    r"limit|split|format|lint|type|validate|handle|reuse|squash|rebase|sign|push|open|"
    r"describe|explain|mention|store|cache|mock|measure|benchmark|profile)\b", re.I)
# A list of files or names ("`src/app.py` — the entry point") says where things are, not
# what to do.
_NAMED_ENTRY = re.compile(r"^(?:\*\*)?`?[\w@$./\\-]*[./\\][\w@$./\\-]*`?(?:\*\*)?\s*"
                          r"(?:[—–:|]|-\s|\(|$)|^`[^`]+`\s*(?:[—–:|]|-\s)")


def rule_strength(text: str) -> int | None:
    """0 for a rule that says never/always/must/do not, 1 for a plain instruction, None for
    text that binds nobody (a description, a list of files)."""
    if _NAMED_ENTRY.match(text.strip()):
        return None
    if _STRONG.search(text):
        return 0
    if _IMPERATIVE.match(text.strip()):
        return 1
    return None


def context_rules(repo: Repo) -> list[str]:
    """The rules of the agent files that bind most, for the context (each with file:line):
    never/always/must/do-not statements, then plain instructions, the agent files' (CLAUDE.md,
    AGENTS.md, GEMINI.md, Cursor's) before other files', each group in file order. File lists
    and descriptions are left out: the rules page quotes everything."""
    found, seen = [], set()
    for order, (s, item) in enumerate(_rule_items(repo)):
        text = str(item.get("text") or "")
        norm = " ".join(text.lower().split())
        if not text or norm in seen or len(text.split()) < 3:
            continue
        strength = rule_strength(text)
        if strength is None:
            continue
        seen.add(norm)
        group = 0 if _AGENT_FILES.match(s["path"]) else 1
        found.append(((group, strength, order),
                      f"{one_line(text, 200)} ({s['path']}:{item.get('line')})"))
    return [rule for _, rule in sorted(found)[:CONTEXT_RULES]]


def overview_facts(repo: Repo) -> str:
    """What the LLM overview is written from (JSON): only facts bootstrap recorded."""
    name = project_name(repo)
    desc, desc_from = project_description(repo)
    facts = {
        "name": name,
        "description": desc, "description_from": desc_from,
        "languages": language_counts(repo),
        "readme": [{"path": r["path"], "intro": r.get("intro") or [],
                    "sections": (r.get("sections") or [])[:20]} for r in repo.of_role("readme")],
        "manifests": [{k: m.get(k) for k in ("path", "name", "version", "language",
                                              "dependencies", "entry_points") if m.get(k)}
                      for m in repo.of_role("manifest")],
        "docs": [{"path": d["path"], "title": d.get("title", "")}
                 for d in repo.of_role("docs")][:40],
        "modules": [m["path"] for m in repo.tree.get("modules") or []][:40],
        "history": ({"commits": len(repo.commits), "first": repo.commits[0]["day"],
                     "last": repo.commits[-1]["day"]} if repo.commits else {}),
    }
    return json.dumps(facts, indent=1, ensure_ascii=False, sort_keys=True, default=str)


def facts_for_llm(project: Project) -> str | None:
    """The overview facts of a project's current bootstrap log (None before any bootstrap)."""
    if not log_path(project).exists():
        return None
    repo = folded(project, log_stamp(log_path(project)))
    return None if repo.empty else overview_facts(repo)
