"""`wikimem mcp` (serve the memory over MCP on stdio) and `wikimem doctor`."""

from __future__ import annotations

import click

from wikimem.cli import cli, compile_settings, project_from


@cli.command()
@click.pass_context
def mcp(ctx) -> None:
    """Serve this project's memory to an agent over MCP on stdio (needs wikimem[mcp]).

    Tools: search, read_page, context, recent_sessions, page_history, task_list, decide,
    lesson, note, task_claim, task_heartbeat, task_done. Register it with
    `wikimem install-mcp --agent NAME`.
    """
    from wikimem.serve.mcp import build_server

    settings = compile_settings()
    server = build_server(project_from(ctx, create=True), budget=settings["budget"],
                          claim_expiry_minutes=settings["claim_expiry_minutes"])
    server.run("stdio")


@cli.command()
@click.option("json_", "--json", is_flag=True, help="Print JSON instead of text.")
def doctor(json_: bool) -> None:
    """Check wikimem's health here: one line per check, PASS/WARN/FAIL, with the fix.

    Exits 1 when any check fails.
    """
    import os

    from wikimem.cli import echo_json
    from wikimem.doctor import run_checks

    checks = run_checks(os.getcwd())
    if json_:
        echo_json([c.to_dict() for c in checks])
    else:
        for c in checks:
            click.echo(f"{c.status:<4}  {c.name:<18} {c.detail}")
            if c.fix and c.status != "PASS":
                click.echo(f"{'':24}fix: {c.fix}")
    if any(c.status == "FAIL" for c in checks):
        raise SystemExit(1)
