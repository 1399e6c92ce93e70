"""Time travel commands: history, show, diff (they read the wiki's git history through
`wiki.timetravel`)."""

from __future__ import annotations

import click

from wikimem.cli import cli, echo_json, json_option, parse_date, project_from
from wikimem.cli.memory import resolve_ref


@cli.command()
@click.argument("page")
@json_option
@click.pass_context
def history(ctx, page, json_) -> None:
    """Show a page's supersession chain and its git revisions (date, commit, message)."""
    from wikimem.wiki import timetravel

    project = project_from(ctx)
    path = resolve_ref(project, page)
    chain = timetravel.chain(project.wiki_dir, path)
    revisions = timetravel.revisions(project.wiki_dir, path)
    if json_:
        echo_json({"page": path, "chain": [c.__dict__ for c in chain],
                   "revisions": [r.to_dict() for r in revisions]})
        return
    click.echo(path)
    if len(chain) > 1:
        click.echo("Supersession chain (oldest first):")
        for link in chain:
            mark = "*" if link.path == path else " "
            until = f" until {link.valid_until[:10]}" if link.valid_until else ""
            click.echo(f" {mark} {link.path}  [{link.status}, from {str(link.created)[:10]}"
                       f"{until}]  {link.title}")
    click.echo("Revisions (newest first):")
    for r in revisions:
        moved = f"  (as {r.path})" if r.path != path else ""
        click.echo(f"  {r.date[:19]}  {r.commit[:10]}  {r.author}: {r.subject}{moved}")
    if not revisions:
        click.echo("  none yet: the page has not been committed.")


@cli.command()
@click.argument("page")
@click.option("--at", callback=parse_date, metavar="DATE",
              help="Print the page as it was at this date (2026-11-21 or ISO time).")
@click.option("--rev", metavar="REV", help="Print the page as it was at this git revision.")
@click.pass_context
def show(ctx, page, at, rev) -> None:
    """Print a page (as it is now, or as it was --at a date or --rev)."""
    from wikimem.wiki import timetravel

    if at and rev:
        raise click.UsageError("Give --at or --rev, not both.")
    from wikimem.compile.decay import record_use

    project = project_from(ctx)
    path = resolve_ref(project, page)
    text = timetravel.show(project.wiki_dir, path, at=at, rev=rev)
    record_use(project, [path], "show")  # decay: this memory was read
    click.echo(text, nl=False)


@cli.command()
@click.argument("page")
@click.option("--since", callback=parse_date, required=True, metavar="DATE",
              help="Compare with the page as it was at this date.")
@click.pass_context
def diff(ctx, page, since) -> None:
    """Show how a page changed since a date (a unified diff; follows renames)."""
    from wikimem.wiki import timetravel

    project = project_from(ctx)
    out = timetravel.diff(project.wiki_dir, resolve_ref(project, page), since=since)
    click.echo(out if out else "No changes.", nl=not out.endswith("\n") if out else True)
