"""`wikimem purge`: remove a session, a secret value or the whole project from every store."""

from __future__ import annotations

import sys

import click

from wikimem.cli import cli, compile_settings, echo_json, json_option, project_from

WARNING = (
    "This permanently removes {what} from project {project}: the raw log, the wiki pages, "
    "the search index and the wiki's git history. Every commit from the first one that held "
    "it is rewritten (commit hashes change) and the old objects are deleted; clones, pushes "
    "and backups of the wiki keep their own copy. It cannot be undone."
)


@cli.command()
@click.option("--session", "session", metavar="ID|PAGE",
              help="A session: its id, its page (sessions/<date>-<id>.md) or the page's name.")
@click.option("--secret", "secret", metavar="VALUE",
              help="A value to replace by [REDACTED:purged] everywhere, in every form the "
                   "wiki derives from it (escaped, in page names, cut) ('-': read it from the "
                   "first line of stdin, which keeps it out of your shell history).")
@click.option("--project", "whole", is_flag=True,
              help="Everything this project holds, and its registry entry.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def purge(ctx, session: str | None, secret: str | None, whole: bool, yes: bool,
          json_: bool) -> None:
    """Remove data from the raw log, the pages, the index and the git history.

    For the day a secret got through anyway: `--secret VALUE` replaces a string everywhere,
    `--session ID` removes one session and what other pages said of it, `--project` deletes
    the project's data altogether. Asks for confirmation (--yes to skip). Says, by store,
    what it found, removed and could not remove.
    """
    if sum(x is not None and x is not False for x in (session, secret, whole)) != 1:
        raise click.UsageError("Say what to purge: exactly one of --session ID, --secret VALUE "
                               "or --project.")
    if secret == "-":
        secret = sys.stdin.readline().rstrip("\r\n")
    from wikimem import purge as purging

    project = project_from(ctx)
    if session is not None:
        session_id = purging.find_session(project, session)[0]
        what = f"session {session_id} (end it first: a running session's next event starts " \
               "its log again)"
    elif secret is not None:
        what = f"every occurrence of the given value ({len(secret)} characters)"
    else:
        what = "everything"
    if not yes:
        click.echo(WARNING.format(what=what, project=f"{project.workspace}/{project.name}"),
                   err=True)
        click.confirm("Purge?", default=False, abort=True, err=True)
    if whole:
        report = purging.purge_project(project)
    elif session is not None:
        report = purging.purge_session(project, session, compile_settings=compile_settings())
    else:
        report = purging.purge_secret(project, secret, compile_settings=compile_settings())
    if json_:
        echo_json(report.to_dict())
        return
    click.echo(f"Purged {report.what} from {project.workspace}/{project.name}.")
    if report.raw_files_removed:
        click.echo(f"  raw log: removed {', '.join(report.raw_files_removed)}")
    if report.files_scrubbed:
        click.echo(f"  rewrote {len(report.files_scrubbed)} log/state file(s)")
    if report.files_moved:
        click.echo(f"  renamed {len(report.files_moved)} file(s) a person made, whose names "
                   "held it")
    if not whole:
        click.echo(f"  recompiled {report.pages_written} page(s), removed "
                   f"{len(report.pages_removed)}; rewrote {report.commits_rewritten} commit(s); "
                   "rebuilt the search index")
        _table(report)
    left = {k: v for k, v in report.remaining.items() if v}
    if left:
        hint = ("Purge it with --secret as well, or look at those files." if session
                else "Purge could not remove those (a name it may not change, such as a raw "
                     "log's, which is its session's id): look at them.")
        click.echo("  still found in: " + ", ".join(f"{k} ({v})" for k, v in left.items())
                   + f". {hint}")
    else:
        click.echo("  nothing of it is left in any store.")
    partial = {k: v for k, v in report.partial.items() if v}
    if partial:
        click.echo(f"  {sum(partial.values())} piece(s) of its start or end remain ("
                   + ", ".join(f"{k} {v}" for k, v in partial.items()) + "), not removed: "
                   "maybe the value cut where nothing marks the cut, maybe other text. Purge "
                   "such a piece with --secret if it is the value's.")
    if report.remote:
        click.echo(f"  remote: {report.remote}" + (
            "; every other machine purges it on its next sync" if report.remote.startswith(
                "rewritten") else "; run the purge again to rewrite it"))
    if report.not_searched:
        click.echo("  not looked for (too short to tell from other text): "
                   + "; ".join(report.not_searched) + ".")


def _table(report) -> None:
    """Found, removed and left, by store (the value and every form derived from it)."""
    if not report.found:
        return
    removed = report.removed
    click.echo(f"  {'':12} {'found':>7} {'removed':>8} {'left':>6}")
    for store, found in report.found.items():
        click.echo(f"  {store:12} {found:>7} {removed.get(store, 0):>8} "
                   f"{report.remaining.get(store, 0):>6}")
