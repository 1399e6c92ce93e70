"""Memory that stays true: `verify` (against the code), `sweep` and `pin` (decay).

`verify` and `sweep` record in the raw log (a `verify` observation; a `forget` marked
retired), so both sync and a rebuild reproduces their pages.
"""

from __future__ import annotations

import click

from wikimem.cli import cli, echo_json, json_option
from wikimem.cli.memory import _compile, _memory, agent_option, resolve_ref


def _item(project, ref: str):
    from wikimem.compile.read import load_memory
    from wikimem.errors import WikimemError

    state = load_memory(project)
    path = resolve_ref(project, ref)
    if path not in state.items:
        raise WikimemError(f"{path} is not a decision, lesson, note, goal or task; only those "
                           "are verified, pinned or retired.")
    return state.items[path]


@cli.command()
@click.argument("page")
@click.option("--note", default="", help="What you checked (kept on the record).")
@agent_option
@json_option
@click.pass_context
def verify(ctx, page, note, agent, json_) -> None:
    """Re-confirm a memory against the code as it is now (clears its stale flag)."""
    from wikimem.compile.staleness import describe, reverify

    project, memory = _memory(ctx, agent)
    item = _item(project, page)
    was = list(item.stale)
    anchors = reverify(project, item)
    memory.verify(item.page, anchors, note)
    _compile(project)
    if json_:
        echo_json({"page": item.page, "id": item.id, "anchors": anchors, "cleared": was,
                   "dropped": sorted(set(item.anchors) - set(anchors)), "note": note})
        return
    click.echo(f"Verified {item.id}: {item.title}")
    for entry in was:
        click.echo(f"  cleared: {describe(entry)}")
    for path in sorted(set(item.anchors) - set(anchors)):
        click.echo(f"  no longer tied to {path} (git does not track it now)")
    if anchors:
        click.echo("  tied to: " + ", ".join(f"{p} @ {a['blob'][:7]}"
                                             for p, a in anchors.items()))


@cli.command()
@click.option("--dry-run", is_flag=True, help="List what would be retired; change nothing.")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), metavar="N",
              help="Unused for more than N days (default: the project's [decay] "
                   "unused_days, else 90).")
@agent_option
@json_option
@click.pass_context
def sweep(ctx, dry_run, days, agent, json_) -> None:
    """Retire memories unused for a long time (reversible with `wikimem accept`).

    Retiring is a `forget` with a reason: the page stays, marked retracted, out of the
    context; nothing is deleted. Pinned memories (`--pin`) are never retired. Time is the
    project's own: its newest recorded event, not the calendar.
    """
    from wikimem.compile.context import last_use
    from wikimem.compile.decay import project_settings, sweepable
    from wikimem.compile.read import load_memory
    from wikimem.compile.state import State, ordered

    project, memory = _memory(ctx, agent)
    limit = days or project_settings(project)[0]["unused_days"]
    found = sweepable(load_memory(project), ordered(State(project).load().catalog), limit)
    rows = [{"page": i.page, "id": i.id, "kind": i.kind, "title": i.title,
             "last_used": last_use(i)} for i in found]
    if not dry_run:
        for i in found:
            memory.forget(i.page, f"retired by wikimem sweep: unused since "
                                  f"{last_use(i)[:10]} (over {limit:g} days); "
                                  f"`wikimem accept {i.id}` brings it back", retired=True)
        if found:
            _compile(project)
    if json_:
        echo_json({"dry_run": dry_run, "days": limit, "retired" if not dry_run
                   else "would_retire": rows})
        return
    if not rows:
        click.echo(f"Nothing to retire: every memory was used in the last {limit:g} days, "
                   "or is pinned.")
        return
    verb = "Would retire" if dry_run else "Retired"
    click.echo(f"{verb} {len(rows)} memor{'y' if len(rows) == 1 else 'ies'} unused for over "
               f"{limit:g} days:")
    for r in rows:
        click.echo(f"  {r['id']}\t{r['page']}\tlast used {r['last_used'][:10]}\t{r['title']}")
    if not dry_run:
        click.echo("Bring one back with `wikimem accept ID`.")


@cli.command()
@click.argument("page")
@click.option("--off", is_flag=True, help="Make it subject to decay again.")
@agent_option
@click.pass_context
def pin(ctx, page, off, agent) -> None:
    """Pin a memory: `wikimem sweep` never retires it."""
    project, memory = _memory(ctx, agent)
    item = _item(project, page)
    memory.pin(item.page, not off)
    _compile(project)
    click.echo(f"{'Unpinned' if off else 'Pinned'} {item.id}: {item.title}")



def print_explain(project, budget: int, json_: bool) -> None:
    """`wikimem context --explain`: what became of every candidate for the block."""
    from wikimem.compile.read import explain_context

    report = explain_context(project, budget)
    if json_:
        echo_json(report)
        return
    for error in report["settings_errors"]:
        click.echo(f"Warning: {error}; ignored.", err=True)
    rows = report["candidates"]
    shown = [r for r in rows if r["status"] != "left out"]
    click.echo(f"Context block: {report['chars']} characters (budget {budget}); "
               f"{len(shown)} of {len(rows)} candidates in it, {report['candidate_chars']} "
               "characters of theirs.")
    if report["hidden_sections"]:
        click.echo(f"Sections turned off for this project: {', '.join(report['hidden_sections'])}")
    for r in rows:
        score = "" if r["score"] is None else f"{r['score']:.3f}"
        click.echo(f"  {r['status']:<9} {r['section']:<16} {r['chars']:>5} {score:>6}  "
                   f"{r['id']}: {r['reason']}")
