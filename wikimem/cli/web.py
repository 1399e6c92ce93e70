"""`wikimem web` (the wiki in a browser, read-only) and `wikimem export --html DIR`."""

from __future__ import annotations

import click

from wikimem.cli import cli, project_from


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token", envvar="WIKIMEM_WEB_TOKEN", metavar="SECRET",
              help="Require this token: `Authorization: Bearer SECRET`, or HTTP Basic with it "
                   "as the password (env: WIKIMEM_WEB_TOKEN).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests whose Host header is NAME (repeatable).")
@click.option("--open", "open_browser", is_flag=True, help="Open it in the browser.")
@click.pass_context
def web(ctx, host, port, token, allow_hosts, open_browser) -> None:
    """Serve the wiki read-only in a browser: pages, search, backlinks, history, diffs.

    Every registered project is listed (with --project, only that one). A JSON API lives
    under /api/ (see README).
    """
    from wikimem.errors import WikimemError
    from wikimem.project import Registry
    from wikimem.serve.webserver import check_bind, serve

    try:
        check_bind(host, token)
    except WikimemError as exc:
        raise click.UsageError(str(exc)) from exc
    if (ctx.obj or {}).get("project_ref"):
        only = project_from(ctx)

        def projects():
            return [only]
    else:
        projects = Registry().projects
    serve(projects, host=host, port=port, token=token, allow_hosts=allow_hosts,
          open_browser=open_browser, echo=click.echo)


@cli.command()
@click.option("--html", "html_dir", required=True, type=click.Path(file_okay=False),
              metavar="DIR", help="Write the wiki as a static HTML site into DIR.")
@click.option("--quiet", is_flag=True, help="No progress.")
@click.pass_context
def export(ctx, html_dir, quiet: bool) -> None:
    """Export the project's wiki as a static site (relative links, client-side search)."""
    from wikimem.cli.progress import meter
    from wikimem.serve.webexport import export_html

    project = project_from(ctx)
    steps = meter(quiet)
    count = export_html(project, html_dir, steps=steps)
    steps.close()
    click.echo(f"Exported {count} page{'' if count == 1 else 's'} to {html_dir}; open "
               f"{html_dir}/index.html.")
