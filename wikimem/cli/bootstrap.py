"""`wikimem bootstrap`: seed a project's wiki from its repository (see the wikimem.repo package)."""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import datetime
from pathlib import Path

import click

from wikimem.cli import cli, compile_settings, echo_json, json_option, parse_date, project_from


@cli.command()
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--since", callback=parse_date, metavar="DATE",
              help="Only read commits committed on or after this date (midnight UTC; files "
                   "are always read).")
@click.option("--dry-run", is_flag=True,
              help="Read the repository and show which pages would be written; write nothing.")
@click.option("--llm/--no-llm", "use_llm", default=None,
              help="Also ask an LLM for a better overview (default: [llm] enabled in config).")
@json_option
@click.pass_context
def bootstrap(ctx, path: str | None, since, dry_run: bool, use_llm, json_: bool) -> None:
    """Seed the wiki of the project at PATH (default: this one) from its repository.

    Reads the git history (one `git log`), the README, docs, decision records (ADRs), agent
    rule files (CLAUDE.md, AGENTS.md, ...), manifests and module headers at HEAD; records
    them in the raw log (redacted, idempotent) and compiles: project/overview.md, modules.md,
    rules.md, hotspots.md, history/<month>.md, history.md, and decision pages. Running it
    again records only what changed; pages a person edited are kept.
    """
    from wikimem.cli.progress import meter
    from wikimem.errors import ProjectNotFound
    from wikimem.repo.collect import collect
    from wikimem.repo.record import record

    started = time.monotonic()
    progress = meter(json_=json_)  # on stderr, so --json output stays clean

    try:
        project = project_from(ctx, create=not dry_run, path=path)
    except ProjectNotFound:
        if not dry_run:
            raise
        project = None  # a dry run on a repository wikimem does not know yet
    where = Path(path) if path else Path(project.root if project else os.getcwd())
    # A bare date means its midnight UTC (git would otherwise take the current time of day).
    since_text = (None if since is None else since.isoformat() if isinstance(since, datetime)
                  else f"{since.isoformat()} 00:00:00 +0000")
    collected = collect(where, since_text, progress)

    settings = compile_settings()
    if use_llm is not None:
        settings["llm"] = dataclasses.replace(settings["llm"], enabled=use_llm)
    if dry_run:
        from wikimem.compile.preview import bootstrap_preview

        report, would = bootstrap_preview(project, collected, progress,
                                          budget=settings["budget"])
        progress.close()
        plan = _overview_plan(project, would.overview_facts, settings["llm"])
        if json_:
            echo_json({**report.to_dict(), "pages": would.to_dict(), "llm_requests": plan,
                       "seconds": round(time.monotonic() - started, 3)})
            return
        click.echo(f"Would record {report.commits_recorded} of {report.commits_read} commit(s) "
                   f"and {report.files_recorded} file(s)"
                   + (f", {report.files_removed} removed" if report.files_removed else "")
                   + " (dry run: nothing written).")
        for label, paths in (("new", would.new), ("changed", would.changed)):
            for rel in paths:
                click.echo(f"  {label:8} {rel}")
        for rel in would.kept:
            click.echo(f"  kept     {rel} (edited by a person; would not be overwritten)")
        click.echo(f"  {len(would.unchanged)} page(s) unchanged.")
        for r in plan:
            click.echo(f"=== {r['request']}: ~{r['estimated_input_tokens']} input tokens (+ up "
                       f"to {r['max_output_tokens']} output), model {r['model']}")
            click.echo(r["prompt"])
            click.echo("1 call; nothing was sent.")
        if settings["llm"].enabled and not plan:
            click.echo("No LLM overview request: the overview was written from these facts "
                       "already, or there are none.")
        return

    report = record(project, collected, progress)
    progress.close()
    from wikimem.compile.build import compile_project

    say = None if json_ else (lambda msg: click.echo(msg, err=True))
    llm_report = None
    if settings["llm"].enabled:
        from wikimem.compile import llm
        from wikimem.repo.summary import facts_for_llm

        facts = facts_for_llm(project)
        if facts:
            llm_report = llm.improve_overview(project, facts, settings["llm"])
            for skip in llm_report.skipped:
                click.echo(f"LLM overview skipped: {skip['reason']} ({skip['kind']}); the "
                           "rule-based overview stands.", err=True)
    result = compile_project(project, progress=say, steps=progress, **settings)
    progress.close()
    if json_:
        echo_json({**report.to_dict(), "project": project.name,
                   "llm": llm_report.to_dict() if llm_report else None,
                   "pages_written": result.written, "human_edited": result.human_edited,
                   "commit": result.commit, "busy": result.busy,
                   "seconds": round(time.monotonic() - started, 3)})
        return
    click.echo(f"Bootstrapped {project.name} from {report.root} (HEAD {report.head[:10]}):")
    click.echo(f"  commits: {report.commits_read} read, {report.commits_recorded} new")
    click.echo(f"  files: {report.files_read} read, {report.files_recorded} new or changed"
               + (f", {report.files_removed} gone" if report.files_removed else ""))
    if result.busy:
        click.echo("Another compile is running; it will write the pages.")
        return
    click.echo(f"  pages written: {len(result.written)}"
               + (f" (commit {result.commit[:10]})" if result.commit else ""))
    for rel in result.written:
        click.echo(f"    {rel}")
    for rel in result.human_edited:
        click.echo(f"  kept {rel} (edited by a person; not overwritten"
                   + (", new version beside it as "
                      f"{rel.removesuffix('.md')}.machine.md)"
                      if f"{rel.removesuffix('.md')}.machine.md" in result.written else ")"))
    if llm_report and llm_report.consolidated:
        click.echo(f"  overview written by {llm_report.model} (LLM, {llm_report.called} "
                   f"call(s), {llm_report.cached} from cache): under \"In brief\" in "
                   "project/overview.md")
    if not report.observations:
        click.echo("Nothing new in the repository since the last bootstrap.")


def _overview_plan(project, facts: str | None, settings) -> list[dict]:
    """The overview request `bootstrap --llm` would send (none when it would send nothing)."""
    if not (settings.enabled and facts):
        return []
    from wikimem.compile import llm

    if project is not None:
        requests = llm.improve_overview(project, facts, settings, dry_run=True).requests
    else:
        requests = [llm.overview_request(facts)]
    return [{"request": "bootstrap overview", "estimated_input_tokens": r.estimated_tokens,
             "max_output_tokens": settings.max_output_tokens, "model": settings.model,
             "system": r.system, "prompt": r.prompt} for r in requests]
