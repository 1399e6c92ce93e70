"""`wikimem import`: backfill past sessions from the agents' own transcripts."""

from __future__ import annotations

import click

from wikimem.cli import (
    cli,
    compile_settings,
    echo_json,
    json_option,
    project_from,
    registry,
)


def _agent_choices() -> list[str]:
    from wikimem.agents.backfill import importer_choices

    return [*importer_choices(), "claude"]


@cli.command("import")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--agent", type=click.Choice(_agent_choices()), default=None,
              help="Only this agent's transcripts (with no PATHS: its default folder); "
                   "`hooks` for logs of hook payloads.")
@click.option("--all-projects", is_flag=True,
              help="Import every session into the project of its working directory, "
                   "registering projects as needed (default: only the current project's).")
@click.option("--include-captured", is_flag=True,
              help="Also import sessions the hooks already captured (their prompts may then "
                   "appear twice).")
@click.option("--no-compile", is_flag=True, help="Only fill the raw log; compile later.")
@json_option
@click.pass_context
def import_(ctx, paths, agent, all_projects, include_captured, no_compile, json_) -> None:
    """Backfill past sessions from transcripts the agents keep on disk.

    With no PATHS, reads ~/.claude/projects, ~/.codex/sessions and ~/.gemini/tmp/*/chats
    (or only --agent's). PATHS may be files or folders of Claude Code transcripts, Codex
    rollouts, Gemini chats, or JSONL logs of hook payloads. Importing again adds nothing
    new; secrets are redacted as in live capture. Then compiles the projects that changed.
    """
    from wikimem.agents.backfill import (
        describe_default_locations,
        discover,
        finds_transcripts,
        import_sessions,
    )

    if not paths and agent is not None and not finds_transcripts(agent):
        raise click.UsageError(f"{agent} keeps no transcripts wikimem can find by itself; "
                               "name the hook log files to import.")
    sources = discover(agent, paths)
    if not sources:
        where = ", ".join(paths) if paths else describe_default_locations(agent)
        if json_:
            echo_json({"files": 0, "found_in": where})
        else:
            click.echo(f"No past sessions found in {where}.")
        return
    project = None if all_projects else project_from(ctx, create=True)
    from wikimem.cli.progress import meter

    steps = meter(json_=json_)  # on stderr: stdout keeps the summary (or the JSON)

    def progress(done: int, total: int, report) -> None:
        steps("reading transcripts", done, total)

    report = import_sessions(registry(), sources, project=project, all_projects=all_projects,
                             include_captured=include_captured, progress=progress)
    steps.close()
    if not json_:
        click.echo(f"[{len(sources)}/{len(sources)}] files: {report.sessions} sessions, "
                   f"{report.observations} added, {report.duplicates} already stored",
                   err=True)
    compiled = []
    if not no_compile:
        from wikimem.compile.build import compile_project

        settings = compile_settings()
        for target in report.affected:
            result = compile_project(target, steps=steps, **settings)
            steps.close()
            compiled.append({"project": target.name, "sessions": len(result.sessions),
                             "pages_written": len(result.written),
                             "commit": result.commit})
    if json_:
        echo_json({**report.to_dict(), "compiled": compiled})
        return
    _summary(report, compiled, project, no_compile=no_compile)


def _summary(report, compiled: list[dict], project, *, no_compile: bool) -> None:
    click.echo(
        f"Imported {report.sessions} session(s) ({report.sessions_updated} new or grown) from "
        f"{report.files} file(s): {report.observations} observation(s) added, "
        f"{report.duplicates} already stored."
    )
    if report.ignored:
        click.echo(f"  {report.ignored} event(s) about files in ignore_paths were dropped.")
    if report.events:
        click.echo("  events read: " + ", ".join(f"{a} {n}" for a, n in
                                                  sorted(report.events.items())))
    skipped = sum(report.skipped_records.values())
    if skipped:
        top = ", ".join(f"{k} {v}" for k, v in report.skipped_records.most_common(6))
        click.echo(f"  records skipped: {skipped} ({top}"
                   + (", ..." if len(report.skipped_records) > 6 else "") + ")")
    by_reason: dict[str, int] = {}
    for s in report.skipped_sessions:
        by_reason[s["reason"]] = by_reason.get(s["reason"], 0) + 1
    for reason, n in sorted(by_reason.items()):
        click.echo(f"  sessions skipped: {n} {reason}")
    for path, reason in report.skipped_files[:10]:
        click.echo(f"  file skipped: {path}: {reason}")
    if len(report.skipped_files) > 10:
        click.echo(f"  ... and {len(report.skipped_files) - 10} more files skipped "
                   "(see --json)")
    for c in compiled:
        click.echo(f"Compiled {c['project']}: {c['sessions']} session(s), "
                   f"{c['pages_written']} page(s) written.")
    if no_compile and report.affected:
        names = ", ".join(p.name for p in report.affected)
        click.echo(f"Not compiled (--no-compile): {names}. Run `wikimem compile` there.")
    if not report.sessions and project is not None and any(
            s["reason"].startswith("belongs to another") for s in report.skipped_sessions):
        click.echo(f"No session belonged to {project.name}; --all-projects imports them into "
                   "the projects of their working directories.")
