"""`wikimem bootstrap --dry-run`: which pages a bootstrap would write, computed in memory.

The repository side (`repo.record.dry_run`) plans the observations a run would record; here
they are folded, rendered with the compiler's renderers (decision pages, the decisions hub,
index.md, context.md) and compared with the wiki. Nothing is written, not even the registry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from wikimem.compile.context import DEFAULT_BUDGET, build_context
from wikimem.compile.read import load_catalog
from wikimem.compile.render import context_page, hub_pages, index_page, memory_page
from wikimem.compile.state import State
from wikimem.memory import memory_observations
from wikimem.project import Project
from wikimem.repo.collect import Collected
from wikimem.repo.decisions import decision_records, memory_state_of
from wikimem.repo.fold import fold_log
from wikimem.repo.pages import PROJECT_PAGES, render_pages
from wikimem.repo.record import RecordReport, dry_run
from wikimem.repo.summary import overview_facts
from wikimem.wiki.pages import is_machine_page


@dataclass
class Preview:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # edited by a person: would be left alone
    unchanged: list[str] = field(default_factory=list)
    overview_facts: str | None = None  # what an LLM overview would be written from

    def to_dict(self) -> dict:
        out = asdict(self)
        del out["overview_facts"]
        return out


def bootstrap_preview(project: Project | None, collected: Collected, progress=None, *,
                      budget: int | None = None) -> tuple[RecordReport, Preview]:
    """What a bootstrap run would record and which pages it would write; writes nothing.
    `project` is None for a repository wikimem does not know yet."""
    observations, report = dry_run(project, collected, progress)
    repo = fold_log(observations)
    out = render_pages(repo)
    records = decision_records(repo)
    if project is not None:
        catalog = State(project).load().catalog
        candidates = [c for _, d in sorted(catalog.items()) for c in d.get("candidates", [])]
        stems = {d["session_id"]: d["stem"] for d in catalog.values()}
        memory_obs = memory_observations(project)
        sessions = load_catalog(project)
    else:
        candidates, stems, memory_obs, sessions = [], {}, [], []
    state = memory_state_of(repo, memory_obs, candidates)
    mine = {r.page for r in records}
    out += [memory_page(item, state, stems) for page, item in sorted(state.items.items())
            if page in mine]
    out += [p for p in hub_pages(state) if p.path == "decisions.md"]
    name = project.name if project else collected.root.name
    budget = budget or DEFAULT_BUDGET
    out.append(index_page(name, sessions, state, list(PROJECT_PAGES)))
    out.append(context_page(build_context(name, sessions, state=state, budget=budget), budget,
                            sessions))
    result = Preview(overview_facts=None if repo.empty else overview_facts(repo))
    wiki = project.wiki_dir if project else None
    for page in sorted(out, key=lambda p: p.path):
        target = wiki / page.path if wiki else None
        current = target.read_text(encoding="utf-8") if target and target.exists() else None
        if current is None:
            result.new.append(page.path)
        elif current == page.render():
            result.unchanged.append(page.path)
        elif not is_machine_page(current):
            result.kept.append(page.path)
        else:
            result.changed.append(page.path)
    return report, result
