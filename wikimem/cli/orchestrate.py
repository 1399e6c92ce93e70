"""`wikimem orchestrate` (parallel agents over the task list) and `wikimem plan`."""

from __future__ import annotations

import click

from wikimem.cli import cli, echo_json, json_option, project_from


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 64),
              help="How many tasks run at once.")
@click.option("--agent-prefix", default="worker", show_default=True, metavar="NAME",
              help="Workers hold claims as NAME-1, NAME-2...")
@click.option("--heartbeat", type=click.FloatRange(0.1, 3600), default=None,
              help="Seconds between heartbeats (default: a third of the claim expiry, at "
                   "most 60).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@json_option
@click.pass_context
def orchestrate(ctx, workers: int, agent_prefix: str, heartbeat: float | None,
                command: tuple[str, ...], json_: bool) -> None:
    """Run CMD once per open task, N at a time: `wikimem orchestrate --workers 4 -- CMD ...`.

    Each run gets WIKIMEM_TASK_ID and WIKIMEM_TASK_CONTEXT_FILE (the task's brief); the task
    is marked done on exit 0 (with the end of the output as its summary), failed otherwise.
    Ctrl-C stops the runs and releases their claims.
    """
    from wikimem.config import load
    from wikimem.sync.orchestrate import Orchestra

    project = project_from(ctx)
    echo = (lambda _line: None) if json_ else click.echo
    report = Orchestra(project, list(command), workers=workers, prefix=agent_prefix,
                       heartbeat=heartbeat, expiry_minutes=load().claim_expiry_minutes,
                       echo=echo).run()
    if json_:
        echo_json(report.to_dict())
        return
    click.echo(f"Done {len(report.done)}, failed {len(report.failed)}"
               + (f", released {len(report.released)} (interrupted)" if report.interrupted
                  else "") + ".")
    if report.interrupted:
        ctx.exit(130)


@cli.command()
@json_option
@click.pass_context
def plan(ctx, json_: bool) -> None:
    """Goals with their tasks, each task's status and holder."""
    from wikimem.sync.orchestrate import plan as build_plan

    goals = build_plan(project_from(ctx))
    if json_:
        echo_json(goals)
        return
    if not goals:
        click.echo("No goals or tasks. Add one with `wikimem goal add` / `wikimem task add`.")
    for entry in goals:
        g = entry["goal"]
        click.echo(f"{g['id']} {g['title']} ({g['status']})" if g else "(no goal)")
        for t in entry["tasks"]:
            held = f" - held by {t['holder']}" if t["holder"] else ""
            click.echo(f"  {t['id']}\t{t['status']}\t{t['title']}{held}")
