"""`wikimem watch`."""

from __future__ import annotations

import click

from wikimem.cli import cli, compile_settings, project_from


@cli.command()
@click.option("--debounce", default=1.0, show_default=True, type=click.FloatRange(0.05, 600),
              help="Seconds of quiet before compiling.")
@click.pass_context
def watch(ctx, debounce: float) -> None:
    """Compile as observations arrive; commit and index pages people edit. Ctrl-C stops."""
    from wikimem.compile.watch import watch as run_watch

    project = project_from(ctx)
    click.echo(f"Watching {project.name}: {project.raw_dir} and {project.wiki_dir}")

    def report(result) -> None:
        if result.human_commit:
            click.echo(f"Committed human edits ({result.human_commit[:10]}).")
        if result.commit:
            click.echo(f"Compiled {len(result.written)} page(s) ({result.commit[:10]}).")
        for rel in result.human_edited:
            click.echo(f"Kept {rel} (edited by a person); new material, if any, is beside it "
                       "as .machine.md.")

    try:
        run_watch(project, debounce=debounce, on_compile=report, **compile_settings())
    except KeyboardInterrupt:
        click.echo("Stopped.")
