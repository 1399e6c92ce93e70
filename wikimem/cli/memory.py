"""Structured memory commands: decide, lesson, note, goal, task, forget, accept.

Each records one observation in the raw log (through wikimem.memory) and then compiles, so
the page, the search index and the session-start context are current when the command
returns.
"""

from __future__ import annotations

import click

from wikimem.cli import cli, compile_settings, echo_json, json_option, project_from
from wikimem.errors import WikimemError

files_option = click.option(
    "--files", "files", multiple=True, metavar="PATH",
    help="A file this is about (repeatable): its git blob is recorded, and the memory is "
         "flagged when the file changes or goes. Paths named in the text count too.")
pin_option = click.option("--pin", is_flag=True,
                          help="Exempt it from decay (`wikimem sweep` never retires it).")
agent_option = click.option(
    "--agent", envvar="WIKIMEM_AGENT", default=None, metavar="NAME",
    help="Who is recording this (default: $WIKIMEM_AGENT, else 'human').",
)
# A claim is held by a name, and only its holder may heartbeat, release or finish it: with a
# default, two agents that both forgot --agent would share one claim.
holder_option = click.option(
    "--agent", envvar="WIKIMEM_AGENT", default=None, metavar="NAME",
    help="Who holds the claim (required; or set $WIKIMEM_AGENT).",
)


def _memory(ctx, agent: str | None, *, required: bool = False, create: bool = False,
            task: bool = False):
    """The project and its Memory. `create`: the command records something new, so an
    unregistered folder becomes a project (said aloud); the other commands change what is
    there and need a registered project. `task`: a claim operation, atomic across machines
    when the project has a remote (wikimem.sync.claims)."""
    from wikimem.config import load
    from wikimem.memory import Memory

    if required and not agent:
        raise click.UsageError("Say who is working: --agent NAME (or set WIKIMEM_AGENT).")
    project = project_from(ctx, create=create)
    kind = Memory
    if task:
        from wikimem.sync import settings

        if settings.load(project) is not None:
            from wikimem.sync.claims import RemoteMemory as kind
    return project, kind(project, agent=agent or "human",
                         claim_expiry_minutes=load().claim_expiry_minutes)


def _compile(project) -> None:
    from wikimem.compile.build import compile_project

    compile_project(project, **compile_settings())


def resolve_ref(project, ref: str) -> str:
    """A page path for what the user typed: an id, a path, a stem, a title."""
    from wikimem.compile.read import load_memory
    from wikimem.wiki.timetravel import resolve_page

    try:
        return load_memory(project).find(ref).page
    except WikimemError:
        return resolve_page(project.wiki_dir, ref)


def code_anchors(project, files, *texts) -> dict:
    """The git blobs of the files a memory names (`--files` and paths in its text)."""
    from wikimem.compile.staleness import anchors_for

    found, untracked = anchors_for(project, list(files), [t for t in texts if t])
    if untracked:
        click.echo(f"Not tied to {', '.join(untracked)}: not a file git tracks in "
                   f"{project.root} (commit it, then `wikimem verify`).", err=True)
    return found


def _report(item, json_: bool, verb: str) -> None:
    if json_:
        echo_json(item.to_dict())
        return
    click.echo(f"{verb} {item.id}: {item.title}")
    click.echo(f"  page: {item.page} ({item.status})")
    if item.anchors:
        click.echo(f"  tied to: {', '.join(item.anchors)}")


@cli.command()
@click.argument("what")
@click.option("--why", help="The reason for the decision.")
@click.option("--ruled-out", help="Alternatives considered and rejected.")
@click.option("--assumes", help="The assumption the decision rests on.")
@click.option("--context", "context_", help="The situation that called for a decision.")
@click.option("--supersedes", "supersedes", multiple=True, metavar="PAGE",
              help="A decision this one replaces (id, page or title; repeatable).")
@files_option
@pin_option
@agent_option
@json_option
@click.pass_context
def decide(ctx, what, why, ruled_out, assumes, context_, supersedes, files, pin, agent,
           json_) -> None:
    """Record a decision (an ADR-style page under decisions/)."""
    project, memory = _memory(ctx, agent, create=True)
    replaced = [resolve_ref(project, ref) for ref in supersedes]
    item = memory.add("decision", what, {"why": why, "ruled_out": ruled_out,
                                         "assumes": assumes, "context": context_},
                      supersedes=replaced, pinned=pin,
                      anchors=code_anchors(project, files, what, why, context_, assumes))
    _compile(project)
    _report(item, json_, "Decided")
    for page in replaced:
        if not json_:
            click.echo(f"  supersedes {page}")


@cli.command()
@click.argument("what_went_wrong")
@click.option("--correct", required=True, help="What to do instead.")
@click.option("--verified-by", help="Who confirmed the correction works.")
@files_option
@pin_option
@agent_option
@json_option
@click.pass_context
def lesson(ctx, what_went_wrong, correct, verified_by, files, pin, agent, json_) -> None:
    """Record a lesson: what went wrong and what to do instead (lessons/)."""
    project, memory = _memory(ctx, agent, create=True)
    item = memory.add("lesson", what_went_wrong, {"correct": correct,
                                                  "verified_by": verified_by}, pinned=pin,
                      anchors=code_anchors(project, files, what_went_wrong, correct))
    _compile(project)
    _report(item, json_, "Learned")


@cli.command()
@click.argument("text")
@files_option
@pin_option
@agent_option
@json_option
@click.pass_context
def note(ctx, text, files, pin, agent, json_) -> None:
    """Record a direction note (lighter than a decision; notes/)."""
    project, memory = _memory(ctx, agent, create=True)
    item = memory.add("note", text, {"text": text}, pinned=pin,
                      anchors=code_anchors(project, files, text))
    _compile(project)
    _report(item, json_, "Noted")


@cli.command()
@click.argument("page")
@click.option("--reason", required=True, help="Why it should be forgotten.")
@agent_option
@json_option
@click.pass_context
def forget(ctx, page, reason, agent, json_) -> None:
    """Retract a page: hidden from search and context, kept in git history."""
    project, memory = _memory(ctx, agent)
    path = resolve_ref(project, page)
    memory.forget(path, reason)
    _compile(project)
    if json_:
        echo_json({"page": path, "status": "retracted", "reason": reason})
    else:
        click.echo(f"Retracted {path}.")


@cli.command()
@click.argument("page")
@agent_option
@json_option
@click.pass_context
def accept(ctx, page, agent, json_) -> None:
    """Accept a proposed decision, lesson or task lifted from a session."""
    from wikimem.compile.read import load_catalog

    project, memory = _memory(ctx, agent)
    path = resolve_ref(project, page)
    candidates = {c["page"]: c for r in load_catalog(project) for c in r.candidates}
    state = memory.state()
    retired = state.items.get(path)
    if retired is not None and (retired.retracted or {}).get("retired"):
        # A memory `wikimem sweep` retired comes back as it was.
        memory.restore(path)
        _compile(project)
        _report(memory.state().items[path], json_, "Restored")
        return
    if path in state.items:
        raise WikimemError(f"{path} is already {state.items[path].status}; only proposed "
                           "pages can be accepted.")
    if path not in candidates:
        # bootstrap: a proposed decision derived from the repository (a decision-stating
        # commit or a proposed ADR) is accepted on its page, keeping its sources.
        from wikimem.repo.decisions import candidate_for

        found = candidate_for(project, path)
        if found is None:
            raise WikimemError(f"{path} is not a proposed page. Proposed pages are listed "
                               "under 'Proposed' in decisions.md, lessons.md and tasks.md.")
        fields = {k: v for k, v in found.fields.items() if k != "from"}
        item = memory.add("decision", found.title, {**fields, "accepted_from": "bootstrap"},
                          sources=found.sources, page=found.page, item_id=found.id)
        _compile(project)
        _report(item, json_, "Accepted")
        return
    item = memory.accept(candidates[path])
    _compile(project)
    _report(item, json_, "Accepted")


# --- goals -------------------------------------------------------------------------------


@cli.group()
def goal() -> None:
    """Goals: what the work is for (`goal add`, `goal list`, `goal done`)."""


@goal.command("add")
@click.argument("title")
@click.option("--why", help="Why the goal matters.")
@click.option("--for", "for_whom", help="Who it is for.")
@click.option("--success-signal", help="How we will know it is reached.")
@click.option("--out-of-scope", help="What this goal does not include.")
@agent_option
@json_option
@click.pass_context
def goal_add(ctx, title, why, for_whom, success_signal, out_of_scope, agent, json_) -> None:
    """Add a goal."""
    project, memory = _memory(ctx, agent, create=True)
    item = memory.add("goal", title, {"why": why, "for": for_whom,
                                      "success_signal": success_signal,
                                      "out_of_scope": out_of_scope})
    _compile(project)
    _report(item, json_, "Goal")


@goal.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include done and retracted goals.")
@json_option
@click.pass_context
def goal_list(ctx, show_all, json_) -> None:
    """List goals with their open tasks."""
    from wikimem.compile.read import load_memory

    state = load_memory(project_from(ctx))
    goals = state.of_kind("goal") if show_all else state.of_kind("goal", "active")
    tasks = state.of_kind("task", "todo", "in_progress")
    if json_:
        echo_json([{**g.to_dict(), "open_tasks": [t.id for t in tasks
                                                  if t.fields.get("goal") == g.page]}
                   for g in goals])
        return
    if not goals:
        click.echo("No goals. Add one with `wikimem goal add \"...\"`.")
    for g in goals:
        open_ids = [t.id for t in tasks if t.fields.get("goal") == g.page]
        click.echo(f"{g.id}\t{g.status}\t{g.title}"
                   + (f"\topen tasks: {', '.join(open_ids)}" if open_ids else ""))


@goal.command("done")
@click.argument("goal_id")
@agent_option
@json_option
@click.pass_context
def goal_done(ctx, goal_id, agent, json_) -> None:
    """Mark a goal reached."""
    project, memory = _memory(ctx, agent)
    item = memory.goal_done(goal_id)
    _compile(project)
    _report(item, json_, "Reached goal")


# --- tasks -------------------------------------------------------------------------------


@cli.group()
def task() -> None:
    """Tasks with claims: add, list, claim, heartbeat, done, fail, release.

    A claim with no heartbeat for 30 minutes (tasks.claim_expiry_minutes) goes back to todo,
    keeping the holder's checkpoint notes.
    """


@task.command("add")
@click.argument("title")
@click.option("--goal", "goal_ref", metavar="GOAL", help="The goal this task serves.")
@click.option("--acceptance", help="What must be true for the task to be done.")
@click.option("--files", multiple=True, help="Files the task is about (repeatable).")
@agent_option
@json_option
@click.pass_context
def task_add(ctx, title, goal_ref, acceptance, files, agent, json_) -> None:
    """Add a task (status todo)."""
    project, memory = _memory(ctx, agent, create=True)
    goal_page = memory.state().find(goal_ref, "goal").page if goal_ref else None
    item = memory.add("task", title, {"goal": goal_page, "acceptance": acceptance,
                                      "files": list(files)},
                      anchors=code_anchors(project, files, title, acceptance))
    _compile(project)
    _report(item, json_, "Task")


@task.command("list")
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(["todo", "in_progress", "done", "failed", "proposed",
                                 "retracted"]),
              help="Only tasks with this status (repeatable; default: todo and in_progress).")
@click.option("--goal", "goal_ref", metavar="GOAL", help="Only tasks of this goal.")
@json_option
@click.pass_context
def task_list(ctx, statuses, goal_ref, json_) -> None:
    """List tasks (open ones by default) with who holds them."""
    from wikimem.compile.read import load_memory

    state = load_memory(project_from(ctx))
    tasks = state.of_kind("task", *(statuses or ("todo", "in_progress")))
    if goal_ref:
        page = state.find(goal_ref, "goal").page
        tasks = [t for t in tasks if t.fields.get("goal") == page]
    if json_:
        echo_json([t.to_dict() for t in tasks])
        return
    if not tasks:
        click.echo("No tasks.")
    for t in tasks:
        held = f"\theld by {t.holder} (last heartbeat {t.last_seen})" if t.holder else ""
        click.echo(f"{t.id}\t{t.status}\t{t.title}{held}")


def _task_command(op: str, verb: str, *, text_arg: str | None = None, note_opt: bool = False):
    """Build `task heartbeat/release/done/fail`, which share their shape."""

    def command(ctx, agent, json_, task_id=None, text=None, note=None):
        project, memory = _memory(ctx, agent, required=True, task=True)
        item = memory.task_op(op, task_id, text or note or "")
        _compile(project)
        if json_:
            echo_json(item.to_dict())
        else:
            click.echo(f"{verb} {item.id} ({item.status}): {item.title}")

    command = json_option(holder_option(click.pass_context(command)))
    if note_opt:
        command = click.option("--note", help="A checkpoint note: where the work stands.")(
            command)
    if text_arg:
        command = click.argument("text", metavar=text_arg)(command)
        command = click.argument("task_id", metavar="ID")(command)
    else:
        command = click.argument("task_id", metavar="[ID]", required=False)(command)
    return command


@task.command("claim")
@click.argument("task_id", metavar="[ID]", required=False)
@click.option("--goal", "goal_ref", metavar="GOAL", help="Claim the first open task of a goal.")
@holder_option
@json_option
@click.pass_context
def task_claim(ctx, task_id, goal_ref, agent, json_) -> None:
    """Claim a task (the given one, or the first todo); atomic across processes, and across
    machines when the project has a remote."""
    project, memory = _memory(ctx, agent, required=True, task=True)
    item = memory.claim(task_id, goal=goal_ref)
    _compile(project)
    if json_:
        echo_json(item.to_dict())
        return
    click.echo(f"Claimed {item.id} for {item.holder}: {item.title}")
    click.echo("  Send `wikimem task heartbeat` at least every "
               f"{int(memory.expiry.total_seconds() // 60)} minutes, or the claim expires.")


task.command("heartbeat", help="Keep a claim alive, optionally with a checkpoint note.")(
    _task_command("task_heartbeat", "Heartbeat for", note_opt=True))
task.command("release", help="Give a claimed task back (status todo), keeping your notes.")(
    _task_command("task_release", "Released", note_opt=True))
task.command("done", help="Finish a task: ID and its completion summary: what was built, "
                          "what was learned, what the next agent needs to know.")(
    _task_command("task_done", "Done", text_arg="SUMMARY"))
task.command("fail", help="Give up on a task: ID and why it failed.")(
    _task_command("task_fail", "Failed", text_arg="WHY"))
