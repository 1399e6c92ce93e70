"""The bootstrap pages, pure functions of the folded `Repo`: `project/overview.md`,
`project/modules.md`, `project/rules.md`, `project/hotspots.md`, `history/<YYYY-MM>.md` and
`history.md`. Every page's `sources` lists the commits and files it was built from. Called by
the compiler (`pages`, `index_links`, `commit_subject`) when the bootstrap log changed.

Nothing here reads the clock: "recent" is relative to the newest commit, so `compile
--rebuild` reproduces every page byte for byte.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from wikimem.capture.observation import Observation
from wikimem.memory import one_line
from wikimem.project import Project
from wikimem.repo.decisions import DecisionRecord, decision_records, load_digest
from wikimem.repo.fold import Repo, folded, log_stamp
from wikimem.repo.patterns import sources
from wikimem.repo.record import KIND, log_path
from wikimem.repo.summary import (
    language_counts,
    ordered_rules,
    overview_facts,
    plural,
    project_description,
    project_name,
)
from wikimem.wiki.pages import Page
from wikimem.wiki.text import NONE, bullets, code_span, escape_text, quote, template

# The recorded LLM overview written from exactly the given overview facts (JSON), as
# {text, model}, or None: supplied by the caller, which owns the LLM.
OverviewSource = Callable[[str], dict | None]

RECENT_DAYS = 90
TOP_FILES = 25
PROJECT_PAGES = (
    ("project/overview.md", "Project overview"),
    ("project/modules.md", "Modules"),
    ("project/rules.md", "Rules for agents"),
    ("project/hotspots.md", "Hotspots"),
    ("history.md", "Repository history"),
)


def index_links(project: Project) -> list[tuple[str, str]]:
    """The bootstrap pages index.md links to: all of them once the repository was read."""
    path = log_path(project)
    return list(PROJECT_PAGES) if path.exists() and path.stat().st_size else []


# --- render ----------------------------------------------------------------------------


def _span(items: list[str]) -> str:
    return ", ".join(items)


def _commit_url(repo: Repo, sha: str) -> str:
    base = str(repo.tree.get("remote") or "")
    if not base:
        return ""
    if "gitlab.com" in base:
        return f"{base}/-/commit/{sha}"
    if "bitbucket.org" in base:
        return f"{base}/commits/{sha}"
    return f"{base}/commit/{sha}"


def hash_link(repo: Repo, sha: str) -> str:
    url = _commit_url(repo, sha)
    return f"[`{sha[:7]}`]({url})" if url else f"`{sha[:7]}`"


def _meta(title: str, kind: str, repo: Repo, sources: list[str], tags: list[str] | None = None,
          created: str | None = None, updated: str | None = None) -> dict:
    first = repo.commits[0]["utc"] if repo.commits else None
    last = repo.commits[-1]["utc"] if repo.commits else None
    return {"title": title, "kind": kind, "status": "active",
            "created": created or first, "updated": updated or last,
            "sources": list(dict.fromkeys(sources)), "tags": tags or [kind, "bootstrap"]}


def _head_source(repo: Repo) -> list[str]:
    head = str(repo.tree.get("head") or "")
    return [f"commit:{head}"] if head else []


SEE_ALSO = ("[[overview|Overview]] · [[modules|Modules]] · [[rules|Rules for agents]] · "
            "[[hotspots|Hotspots]] · [[history|History]] · [[decisions|Decisions]]")


def overview_page(repo: Repo, records: list[DecisionRecord]) -> Page:
    name = project_name(repo)
    desc, desc_from = project_description(repo)
    srcs = []
    facts = []
    langs = language_counts(repo)
    if langs:
        facts.append(f"Languages (files at HEAD): {_span(langs)}")
    for m in repo.of_role("manifest"):
        srcs.append(f"file:{m['path']}")
        if m.get("error"):
            facts.append(f"Manifest {code_span(m['path'])}: {escape_text(m['error'])}")
            continue
        bits = [escape_text(str(m.get(k))) for k in ("name", "version") if m.get(k)]
        if m.get("requires"):
            bits.append(f"requires {escape_text(str(m['requires']))}")
        facts.append(f"Manifest {code_span(m['path'])} ({escape_text(str(m.get('language', '')))})"
                     + (f": {' '.join(bits)}" if bits else ""))
    entries = [f"{code_span(e)} ({code_span(m['path'])})" for m in repo.of_role("manifest")
               for e in m.get("entry_points") or []]
    entries += [code_span(f) for f in repo.tree.get("entry_files") or []]
    if entries:
        facts.append(f"Entry points: {_span(entries[:12])}")
    modules = repo.tree.get("modules") or []
    if modules:
        facts.append(f"Modules: {_span([code_span(m['path'] + '/') for m in modules[:12]])}"
                     f"{' …' if len(modules) > 12 else ''} — see [[modules|Modules]]")
    if repo.commits:
        authors = len({c["author"] for c in repo.commits})
        first, last = repo.commits[0], repo.commits[-1]
        facts.append(f"History: {plural(len(repo.commits), 'commit')} by "
                     f"{plural(authors, 'author')}, from {first['day']} "
                     f"({hash_link(repo, first['hash'])}) to {last['day']} "
                     f"({hash_link(repo, last['hash'])}) — see [[history|History]]")
        srcs += [f"commit:{first['hash']}", f"commit:{last['hash']}"]
    adrs = [r for r in records if r.origin == "adr"]
    cands = [r for r in records if r.origin == "commit"]
    if adrs or cands:
        facts.append(f"Decisions: {plural(len(adrs), 'decision record')}, "
                     f"{plural(len(cands), 'proposed decision')} from commit messages — see "
                     "[[decisions|Decisions]]")
    rules = repo.of_role("rules")
    if rules:
        facts.append(f"Agent rules: {_span([code_span(r['path']) for r in rules])} — see "
                     "[[rules|Rules for agents]]")
    if repo.tree.get("remote"):
        facts.append(f"Repository: {repo.tree['remote']}")
    readme_parts = []
    for r in repo.of_role("readme"):
        srcs.append(f"file:{r['path']}")
        intro = "\n\n".join(str(p) for p in r.get("intro") or [])
        if intro:
            readme_parts.append(quote(intro))
            readme_parts.append(f"— {code_span(r['path'])}")
        if r.get("sections"):
            readme_parts.append("Sections: " + " · ".join(escape_text(str(s))
                                                           for s in r["sections"][:20]))
    docs = []
    for d in repo.of_role("docs"):
        srcs.append(f"file:{d['path']}")
        line = f"{code_span(d['path'])} — {escape_text(str(d.get('title', '')))}"
        if d.get("summary"):
            line += f": {escape_text(one_line(str(d['summary']), 200))}"
        docs.append(line)
    deps = []
    for m in repo.of_role("manifest"):
        names = [str(x) for x in m.get("dependencies") or []]
        if names:
            line = f"{code_span(m['path'])}: {escape_text(', '.join(names))}"
            if m.get("extras"):
                line += f" (extras: {escape_text(', '.join(map(str, m['extras'])))})"
            deps.append(line)
    description = (quote(desc) + f"\n\n— {code_span(desc_from)}" if desc
                   else "_No description found in the manifests or the README._")
    body = template("overview.md").substitute(
        name=escape_text(name), description=description, facts=bullets(facts),
        readme="\n\n".join(readme_parts) or NONE, docs=bullets(docs), dependencies=bullets(deps),
        see_also=SEE_ALSO,
    )
    srcs += _head_source(repo)
    return Page("project/overview.md", _meta(f"{name} — overview", "overview", repo, srcs),
                body)


def modules_page(repo: Repo) -> Page:
    modules = repo.tree.get("modules") or []
    head = str(repo.tree.get("head") or "")
    touched: Counter = Counter()
    last: dict[str, dict] = {}
    paths = [m["path"] for m in modules]
    for c in repo.commits:
        hit = set()
        for f in c["files"]:
            for p in paths:
                if f.startswith(p + "/"):
                    hit.add(p)
        for p in hit:
            touched[p] += 1
            last[p] = c
    members: dict[str, list[dict]] = defaultdict(list)
    by_path = repo.sources
    for s in repo.sources.values():
        if s.get("role") == "member":
            members[str(s.get("module"))].append(s)
    srcs = _head_source(repo)
    parts = []
    for m in modules:
        path = m["path"]
        header_file = m.get("header") or ""
        s = by_path.get(header_file) if header_file else None
        title = f"## {code_span(path + '/')} — {escape_text(str(m.get('kind', 'folder')))}"
        lines = [title, ""]
        text = _header_of(s) if s else ""
        if text:
            lines += [quote(text), "", f"— {code_span(header_file)}", ""]
            srcs.append(f"file:{header_file}")
        else:
            lines += ["_No header found (no README, package docstring or top comment)._", ""]
        activity = f"{plural(int(m.get('files', 0)), 'file')} at " + (
            f"{hash_link(repo, head)}" if head else "HEAD")
        if touched[path]:
            activity += (f"; changed in {plural(touched[path], 'commit')}, last on "
                         f"{last[path]['day']} ({hash_link(repo, last[path]['hash'])})")
        lines.append(f"- {activity}")
        inside = []
        for mem in sorted(members.get(path, []), key=lambda x: (not str(x.get("name", ""))
                                                                .endswith("/"),
                                                                str(x.get("name", "")))):
            text = _header_of(mem)
            name = str(mem.get("name") or mem["path"].rsplit("/", 1)[-1])
            inside.append(f"{code_span(name)}" + (f" — {escape_text(text)}" if text else ""))
            srcs.append(f"file:{mem['path']}")
        if inside:
            lines += ["", "Inside:", "", bullets(inside)]
        parts.append("\n".join(lines))
    intro = ("The top-level folders of the repository (and the packages inside its source "
             "folders) at " + (hash_link(repo, head) if head else "HEAD") + ", and what each "
             "says about itself: its README, package docstring or top comment, quoted. Where "
             "work happens: [[hotspots|Hotspots]]. Back to [[overview|Overview]].")
    body = template("modules.md").substitute(intro=intro,
                                             modules="\n\n".join(parts) or NONE)
    return Page("project/modules.md", _meta("Modules", "modules", repo, srcs), body)


def _header_of(s: dict | None) -> str:
    if not s:
        return ""
    role = s.get("role")
    if role in ("header", "member"):
        return str(s.get("text") or "")
    if role == "readme":
        return str((s.get("intro") or [""])[0])
    if role == "docs":
        return str(s.get("summary") or s.get("title") or "")
    if role == "manifest":
        return str(s.get("description") or "")
    if role == "decision":
        return str(s.get("title") or "")
    return ""


def rules_page(repo: Repo) -> Page:
    files = []
    srcs = []
    for s in ordered_rules(repo):
        path = s["path"]
        srcs.append(f"file:{path}")
        lines = [f"## {code_span(path)}", ""]
        scope = s.get("scope") or {}
        if scope:
            lines += ["Applies: " + "; ".join(f"{k}: {escape_text(str(v))}"
                                              for k, v in sorted(scope.items())), ""]
        heading = None
        items = [i for i in s.get("items") or [] if isinstance(i, dict)]
        if not items:
            lines.append("_The file has no rules in it._")
        stops = _rules_stop(repo, s, len(items))
        if stops:
            lines += [stops, ""]
        for item in items:
            if item.get("heading") != heading:
                heading = item.get("heading")
                if heading:
                    if lines[-1] != "":
                        lines.append("")
                    lines += [f"### {escape_text(str(heading))}", ""]
            where = code_span(f"{path}:{item.get('line')}")
            indent = "  " * int(item.get("depth") or 0)
            if item.get("code"):
                code = str(item["code"])
                fence = "```"
                while fence in code:
                    fence += "`"
                block = "\n".join(f"{indent}    {ln}".rstrip()
                                  for ln in [fence, *code.splitlines(), fence])
                lines.append(f"{indent}- Code block — {where}\n\n{block}\n")
            else:
                lines.append(f"{indent}- {escape_text(str(item.get('text', '')))} — {where}")
        files.append("\n".join(lines).rstrip())
    looked = ", ".join(code_span(p) for p in ("AGENTS.md", "CLAUDE.md", "GEMINI.md",
                                                ".cursorrules", ".cursor/rules/",
                                                ".github/copilot-instructions.md"))
    intro = ("What the repository's agent instruction files tell coding agents, quoted item by "
             "item with the file and line it comes from (the files at "
             + (hash_link(repo, str(repo.tree['head'])) if repo.tree.get("head") else "HEAD")
             + "). The files are the authority; this page only collects them. See also "
             "[[overview|Overview]] and [[modules|Modules]].")
    body = template("rules.md").substitute(
        intro=intro,
        files="\n\n".join(files) or f"_No agent rule files found. Looked for {looked}._")
    return Page("project/rules.md", _meta("Rules for agents", "rules", repo,
                                          srcs + _head_source(repo)), body)


def _rules_stop(repo: Repo, source: dict, kept: int) -> str:
    """What a rule file's section does not quote, and where the rest is (empty: nothing)."""
    path = source["path"]
    where = code_span(path)
    head = str(repo.tree.get("head") or "")
    if repo.tree.get("remote") and head:
        where = f"[{code_span(path)}]({repo.tree['remote']}/blob/{head}/{path})"
    if source.get("stopped_at"):
        return (f"> [!warning] This page quotes the first {kept:,} of the "
                f"{int(source.get('items_total') or 0):,} items in {code_span(path)}: it "
                f"stops before line {source['stopped_at']}. Read the rest in the file.\n"
                f"> The file: {where}.")
    if source.get("parts_missing"):
        return (f"> [!warning] Part of what bootstrap recorded of {code_span(path)} is missing "
                f"from its log: this page quotes {kept:,} items, not all of them. Run "
                f"`wikimem bootstrap` again, or read the file: {where}.")
    return ""


def hotspots_page(repo: Repo) -> Page:
    src = sources()
    overall: Counter = Counter()
    recent: Counter = Counter()
    last: dict[str, dict] = {}
    deleted: dict[str, bool] = {}
    areas: Counter = Counter()
    commits = [c for c in repo.commits if not c["merge"]]
    newest = repo.commits[-1]["utc"] if repo.commits else ""
    cutoff = ""
    if newest:
        cutoff = (datetime.fromisoformat(newest.replace("Z", "+00:00"))
                  - timedelta(days=RECENT_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ignored: dict[str, bool] = {}
    for c in commits:
        seen_areas = set()
        for i, f in enumerate(c["files"]):
            skip = ignored.get(f)
            if skip is None:
                skip = ignored[f] = src.ignored(f)
            if skip:
                continue
            overall[f] += 1
            if c["utc"] >= cutoff:
                recent[f] += 1
            last[f] = c
            deleted[f] = i < len(c["status"]) and c["status"][i] == "D"
            if "/" in f:
                seen_areas.add(f.split("/", 1)[0] + "/")
        for a in seen_areas:
            areas[a] += 1

    def ranked(counter: Counter) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_FILES]

    def line(path: str, n: int) -> str:
        c = last[path]
        gone = " — since deleted" if deleted.get(path) else ""
        return (f"{code_span(path)} — {plural(n, 'commit')}, last on {c['day']} "
                f"({hash_link(repo, c['hash'])}){gone}")

    top, hot = ranked(overall), ranked(recent)
    srcs = ([f"commit:{repo.commits[0]['hash']}", f"commit:{repo.commits[-1]['hash']}"]
            if repo.commits else [])
    srcs += [f"file:{p}" for p, _ in top + hot]
    intro = (f"Which files change most, counted over {plural(len(commits), 'non-merge commit')}"
             + (f" from {repo.commits[0]['day']} to {repo.commits[-1]['day']}" if repo.commits
                else "")
             + f". \"Last {RECENT_DAYS} days\" is counted back from the newest commit "
             + (f"({hash_link(repo, repo.commits[-1]['hash'])}, {newest[:10]})" if newest
                else "")
             + ", not from today. Commits are listed month by month in [[history|History]]; "
             "what each folder is: [[modules|Modules]].")
    body = template("hotspots.md").substitute(
        intro=intro, days=RECENT_DAYS,
        overall=bullets([line(p, n) for p, n in top]),
        recent=bullets([line(p, n) for p, n in hot]),
        areas=bullets([f"{code_span(a)} — {plural(n, 'commit')}"
                       for a, n in sorted(areas.items(), key=lambda kv: (-kv[1], kv[0]))[:15]]),
    )
    return Page("project/hotspots.md", _meta("Hotspots", "hotspots", repo, srcs), body)


GROUPS = (
    ("feat", "Features"), ("fix", "Fixes"), ("perf", "Performance"),
    ("security", "Security"), ("refactor", "Refactoring"), ("docs", "Documentation"),
    ("test", "Tests"), ("build", "Build and CI"), ("chore", "Chores"), ("style", "Style"),
    ("revert", "Reverts"), ("merge", "Merges"), ("other", "Other changes"),
)
_GROUP_OF = {"tests": "test", "ci": "build", "deps": "build", "release": "chore"}


def group_of(c: dict) -> str:
    if c["merge"]:
        return "merge"
    if c["revert"]:
        return "revert"
    return _GROUP_OF.get(c["type"], c["type"]) or "other"


def _commit_line(repo: Repo, c: dict, candidates: dict[str, DecisionRecord]) -> str:
    scope = f"**{escape_text(c['scope'])}:** " if c["scope"] else ""
    text = escape_text(c["desc"] if c["type"] else c["subject"])
    line = f"{c['day']} {hash_link(repo, c['hash'])} {scope}{text} — {escape_text(c['author'])}"
    extra = []
    if c["files_total"]:
        extra.append(plural(c["files_total"], "file"))
    if c["breaking"]:
        extra.append("**breaking change**")
    if c["reverts"]:
        target = next((h for h in repo.by_hash if h.startswith(c["reverts"])), "")
        extra.append(f"reverts {hash_link(repo, target) if target else code_span(c['reverts'])}")
    rec = candidates.get(c["hash"])
    if rec:
        stem = rec.page.rsplit("/", 1)[-1].removesuffix(".md")
        extra.append(f"proposed decision [[{stem}|{rec.id}]]")
    return line + (f" ({'; '.join(extra)})" if extra else "")


def history_pages(repo: Repo, records: list[DecisionRecord]) -> list[Page]:
    candidates = {r.commit: r for r in records if r.origin == "commit"}
    by_month: dict[str, list[dict]] = defaultdict(list)
    for c in repo.commits:
        by_month[c["month"]].append(c)
    months = sorted(by_month)
    pages = []
    hub_lines = []
    for i, month in enumerate(months):
        commits = by_month[month]
        groups: dict[str, list[str]] = defaultdict(list)
        counts: Counter = Counter()
        for c in commits:
            g = group_of(c)
            counts[g] += 1
            groups[g].append(_commit_line(repo, c, candidates))
        sections = [f"## {title} ({len(groups[key])})\n\n{bullets(groups[key])}"
                    for key, title in GROUPS if groups.get(key)]
        authors = len({c["author"] for c in commits})
        kinds = ", ".join(f"{counts[k]} {k}" for k, _ in GROUPS if counts[k])
        summary = (f"{plural(len(commits), 'commit')} by {plural(authors, 'author')}, from "
                   f"{commits[0]['day']} to {commits[-1]['day']}, oldest first: {kinds}. "
                   + (f"Previous month: [[history/{months[i - 1]}|{months[i - 1]}]]. "
                      if i else "")
                   + "All months: [[history|History]]; the files that change most: "
                   "[[hotspots|Hotspots]].")
        body = template("history-month.md").substitute(month=month, summary=summary,
                                                       sections="\n\n".join(sections))
        meta = _meta(f"History {month}", "history", repo,
                     [f"commit:{c['hash']}" for c in commits], ["history", "bootstrap"],
                     created=commits[0]["utc"], updated=commits[-1]["utc"])
        pages.append(Page(f"history/{month}.md", meta, body))
        hub_lines.append(f"[[history/{month}|{month}]] — {plural(len(commits), 'commit')}"
                         f" ({kinds})")
    if not repo.commits:
        body = template("history-hub.md").substitute(
            summary="No commits recorded yet (`wikimem bootstrap --since` may have left them "
                    "all out). See also [[overview|Overview]].", months=NONE, authors=NONE)
        return [Page("history.md", _meta("History", "history", repo, _head_source(repo),
                                         ["history", "hub", "bootstrap"]), body)]
    authors: dict[str, list[dict]] = defaultdict(list)
    for c in repo.commits:
        authors[c["author"]].append(c)
    author_lines = [f"{escape_text(a)} — {plural(len(cs), 'commit')}, {cs[0]['day']} to "
                    f"{cs[-1]['day']}" for a, cs in sorted(authors.items(),
                                                            key=lambda kv: (-len(kv[1]), kv[0]))
                    ][:20]
    total: Counter = Counter(group_of(c) for c in repo.commits)
    first, last = repo.commits[0], repo.commits[-1]
    summary = (f"{plural(len(repo.commits), 'commit')} by {plural(len(authors), 'author')}, "
               f"from {first['day']} ({hash_link(repo, first['hash'])}) to {last['day']} "
               f"({hash_link(repo, last['hash'])}), read from the repository's git log by "
               "`wikimem bootstrap`: "
               + ", ".join(f"{total[k]} {k}" for k, _ in GROUPS if total[k])
               + ". Each month lists its commits grouped by conventional-commit type. See also "
               "[[overview|Overview]], [[hotspots|Hotspots]] and [[decisions|Decisions]].")
    body = template("history-hub.md").substitute(
        summary=summary, months=bullets(list(reversed(hub_lines))),
        authors=bullets(author_lines))
    meta = _meta("History", "history", repo, [f"commit:{first['hash']}",
                                               f"commit:{last['hash']}"], ["history", "hub",
                                                                           "bootstrap"])
    pages.append(Page("history.md", meta, body))
    return pages


def render_pages(repo: Repo, llm_overview: OverviewSource | None = None) -> list[Page]:
    """Every bootstrap page (a pure function of the folded logs); none for an empty log.

    `llm_overview` gives the recorded LLM overview written from exactly the facts this fold
    gives (`overview_facts`), if there is one; it is shown under "In brief".
    """
    if repo.empty:
        return []
    records = decision_records(repo)
    overview = overview_page(repo, records)
    found = llm_overview(overview_facts(repo)) if llm_overview else None
    if found and found.get("text"):
        marker = "\n\n## From the README"
        text = (f"\n\n## In brief\n\n{escape_text(found['text'])}\n\n"
                f"_Written by {found.get('model') or 'an LLM'} from the facts on "
                "this page; where they differ, the facts win._")
        overview = Page(overview.path, {**overview.meta, "sources": [
            *overview.meta.get("sources", []), f"llm:{found.get('model', '')}"]},
            overview.body.replace(marker, text + marker, 1))
    return [overview, modules_page(repo), rules_page(repo),
            hotspots_page(repo), *history_pages(repo, records)]


def pages(project: Project, llm_overview: OverviewSource | None = None) -> list[Page]:
    """The bootstrap pages of a project (called by compile when its log changed)."""
    if not log_path(project).exists():
        return []
    stamp = log_stamp(log_path(project))
    repo = folded(project, stamp)
    load_digest(project)  # refreshes the cached digest if this fold is new
    return render_pages(repo, llm_overview)


def commit_subject(new: list[Observation] | None) -> str | None:
    """The wiki commit subject for a compile that took in new bootstrap observations."""
    if not new:
        return None
    ops = Counter(o.data.get("op") for o in new if o.kind == KIND)
    parts = []
    if ops["commit"]:
        parts.append(plural(ops["commit"], "commit"))
    if ops["source"] or ops["source_removed"]:
        parts.append(plural(ops["source"] + ops["source_removed"], "file"))
    return "Bootstrap from the repository" + (f": {', '.join(parts)}" if parts else "")
