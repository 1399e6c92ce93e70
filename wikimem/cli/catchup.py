"""`wikimem catchup`: what happened since a date, in one screen."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from wikimem.cli import cli, echo_json, json_option, project_from


def now() -> datetime:
    """The present moment (tests pin it)."""
    return datetime.now(UTC)


@cli.command()
@click.option("--since", "since_text", default="7d", show_default=True, metavar="DATE|SPAN",
              help="From a date (2026-03-01), a moment (2026-03-01T12:00) or a span back "
                   "from now (7d, 2w, 36h).")
@json_option
@click.pass_context
def catchup(ctx: click.Context, since_text: str, json_: bool) -> None:
    """Where things stand: sessions and their outcomes, decisions made or superseded, tasks
    done and in progress, the files most changed and the questions left open, since a date.

    Reads what the compiles left; `wikimem compile` first to include the latest events.
    """
    from wikimem.compile.catchup import catchup as gather_catchup
    from wikimem.compile.catchup import parse_since, render_text

    until = now()
    try:
        since = parse_since(since_text, until)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if since >= until:
        raise click.BadParameter(f"{since_text!r} is not in the past.", param_hint="--since")
    project = project_from(ctx)
    found = gather_catchup(project, since, until)
    if json_:
        echo_json(found.to_dict())
        return
    click.echo(render_text(found, f"since {since_text}"), nl=False)
