"""`wikimem remote set/show` and `wikimem sync`: team memory over a git remote."""

from __future__ import annotations

import click

from wikimem.cli import cli, compile_settings, echo_json, json_option, project_from
from wikimem.errors import WikimemError


@cli.group()
def remote() -> None:
    """Where this project's team memory is exchanged (any git URL)."""


@remote.command("set")
@click.argument("url")
@click.option("--ref", default=None, metavar="REF",
              help="The ref memory lives under (default refs/wikimem/memory).")
@click.option("--machine", default=None, metavar="TAG",
              help="This machine's tag (default: four random characters); fixed once set.")
@json_option
@click.pass_context
def remote_set(ctx, url: str, ref: str | None, machine: str | None, json_: bool) -> None:
    """Exchange this project's memory with URL (authentication is git's own)."""
    from wikimem.sync import settings

    project = project_from(ctx)
    got = settings.set_remote(project, url, ref or settings.DEFAULT_REF, machine)
    if json_:
        echo_json({"url": got.url, "ref": got.ref, "machine": got.machine})
        return
    click.echo(f"Remote set: {got.url} ({got.ref}); this machine is {got.machine!r}.")
    click.echo("Run `wikimem sync` to exchange memory.")


@remote.command("show")
@json_option
@click.pass_context
def remote_show(ctx, json_: bool) -> None:
    """Print the remote, this machine's tag and how the last sync went."""
    from wikimem.sync import exchange, settings

    project = project_from(ctx)
    got = settings.load(project)
    data = {"url": got.url, "ref": got.ref, "machine": got.machine,
            "exclude": list(got.exclude)} if got else None
    state = exchange.status(project)
    if json_:
        echo_json({"remote": data, "status": state})
        return
    if got is None:
        click.echo("No remote: memory stays on this machine. Set one with "
                   "`wikimem remote set URL`.")
        return
    click.echo(f"{got.url} ({got.ref}); this machine is {got.machine!r}.")
    if state.get("error"):
        click.echo(f"Last failure ({state.get('error_ts')}): {state['error']}")
    if state.get("ok"):
        click.echo(f"Last sync: {state['ok']}.")


@cli.command()
@click.option("--no-compile", is_flag=True, help="Exchange only; compile later.")
@json_option
@click.pass_context
def sync(ctx, no_compile: bool, json_: bool) -> None:
    """Exchange memory with the remote (fetch, merge, push) and recompile what arrived."""
    from wikimem.sync import exchange

    project = project_from(ctx)
    settings = compile_settings()

    def apply_purge(kind: str, what: str) -> None:
        """A purge another machine made, applied here (its tombstone)."""
        from wikimem import purge

        if kind == "session":
            try:
                purge.find_session(project, what)
            except WikimemError:
                return  # (never here)
            purge.purge_session(project, what, compile_settings=settings, share=False)
        else:
            purge.purge_secret(project, what, compile_settings=settings, share=False)

    from wikimem.cli.progress import meter

    steps = meter(False, json_)  # (the recompile's stages, as `wikimem compile` shows them)
    report = exchange.sync_project(project, compile_settings={**settings, "steps": steps},
                                   recompile=not no_compile, apply_purge=apply_purge)
    steps.close()
    if json_:
        echo_json(report.to_dict())
        return
    click.echo(f"Synced with {report.remote} as {report.machine!r}: "
               f"{len(report.received)} log(s) received, {len(report.sent)} sent.")
    for what in report.purged:
        click.echo(f"Purged {what} here, as another machine did.")
    for name in report.clashes:
        click.echo(f"Not adopted: raw/{name} (this session id exists on two machines; this "
                   "machine keeps its own).", err=True)
