"""What the folded `Repo` says about the project in a few words — its name, description,
languages and agent rules — shared by the pages, the session-start context (the project line
and the first rules) and the facts the optional LLM overview is written from.
"""

from __future__ import annotations

import json

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


def context_rules(repo: Repo) -> list[str]:
    """The first rules of the agent files, for the context (each with file:line)."""
    out, seen = [], set()
    for s, item in _rule_items(repo):
        text = str(item.get("text") or "")
        norm = " ".join(text.lower().split())
        if not text or norm in seen or len(text.split()) < 3:
            continue
        seen.add(norm)
        out.append(f"{one_line(text, 200)} ({s['path']}:{item.get('line')})")
        if len(out) >= CONTEXT_RULES:
            break
    return out


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
