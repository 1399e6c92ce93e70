"""Agent setup commands: install-hooks, install-mcp, uninstall.

Each shows what it would change in the agent's settings file (a unified diff and what the
user must do next); `--apply` writes it, after a timestamped backup. See wikimem.agents.installers.
No agent is named here: the choices and what each agent can install come from wikimem.agents.
"""

from __future__ import annotations

import click

from wikimem.agents import NAMES as AGENTS
from wikimem.cli import cli, echo_json, json_option

agent_option = click.option("--agent", required=True, type=click.Choice(AGENTS),
                            help="The coding agent whose settings to change.")
scope_option = click.option(
    "--scope", type=click.Choice(("user", "project")), default="user", show_default=True,
    help="user: your settings in the home folder, for every project; project: the settings "
         "in this git repository.")
apply_option = click.option("apply_", "--apply", is_flag=True,
                            help="Write the change (default: only show it).")

NOUNS = {"hooks": "wikimem hooks", "mcp": "the wikimem MCP server",
         "notify": "the wikimem legacy notify"}


def message(plan, applied: bool) -> str:
    """The one-line summary of a plan, before or after it was applied."""
    from wikimem.agents.installers import label as agent_label

    noun, label, path = NOUNS[plan.kind], agent_label(plan.agent), plan.path
    if plan.action == "install":
        if not plan.changed:
            return f"Already installed: {noun} for {label} in {path}; nothing to do."
        if applied:
            return f"Installed {noun} for {label} in {path}."
        return f"Would install {noun} for {label} in {path}:"
    if not plan.changed:
        return f"Not installed: {noun} for {label} in {path}; nothing to do."
    if applied:
        return f"Removed {noun} for {label} from {path}."
    return f"Would remove {noun} for {label} from {path}:"


def run(agent: str, scope: str, apply_: bool, json_: bool, **kinds) -> None:
    from wikimem.agents import installers

    plan = installers.plan(agent, scope, **kinds)
    backup = installers.apply(plan) if apply_ else None
    applied = apply_ and plan.changed
    if json_:
        echo_json({**plan.to_dict(), "applied": applied,
                   "backup": str(backup) if backup else None,
                   "message": message(plan, applied)})
        return
    click.echo(message(plan, applied))
    if plan.changed and not applied:
        click.echo(plan.diff(), nl=False)
    if backup:
        click.echo(f"Backup of the previous file: {backup}")
    for note in plan.notes:
        click.echo(f"Note: {note}")
    if plan.changed and not applied:
        click.echo("Nothing was changed; run again with --apply to write it.")


def _check_notify(agent: str) -> None:
    """--legacy-notify only for the agents that have one (Codex)."""
    from wikimem.agents.installers import agents_with

    having = agents_with("notify")
    if agent not in having:
        raise click.UsageError(
            f"--legacy-notify is for {' or '.join(f'--agent {a}' for a in having)} only.")


@cli.command("install-hooks")
@agent_option
@scope_option
@click.option("--legacy-notify", is_flag=True,
              help="Codex only: set config.toml's `notify` (run after each turn) instead of "
                   "hooks, for Codex versions without hooks.")
@apply_option
@json_option
def install_hooks(agent: str, scope: str, legacy_notify: bool, apply_: bool,
                  json_: bool) -> None:
    """Add `wikimem hook AGENT` to the agent's hook settings, one entry per event.

    Shows the change to the settings file and what to do next; --apply writes it (after
    a backup). Other settings and other tools' hooks are kept; running it again changes
    nothing.
    """
    if legacy_notify:
        _check_notify(agent)
    run(agent, scope, apply_, json_, notify=legacy_notify)


@cli.command("install-mcp")
@agent_option
@scope_option
@apply_option
@json_option
def install_mcp(agent: str, scope: str, apply_: bool, json_: bool) -> None:
    """Add the wikimem MCP server (`wikimem mcp`) to the agent's MCP settings.

    Shows the change and what to do next; --apply writes it (after a backup).
    """
    run(agent, scope, apply_, json_, mcp=True)


@cli.command()
@agent_option
@scope_option
@click.option("--mcp", is_flag=True, help="Remove the MCP server instead of the hooks.")
@click.option("--legacy-notify", is_flag=True,
              help="Codex only: remove wikimem's `notify` from config.toml instead.")
@apply_option
@json_option
def uninstall(agent: str, scope: str, mcp: bool, legacy_notify: bool, apply_: bool,
              json_: bool) -> None:
    """Remove wikimem's hooks (or, with --mcp, its MCP server) from the agent's settings.

    Only wikimem's entries go: everything else stays as it was. Shows the change;
    --apply writes it (after a backup).
    """
    if mcp and legacy_notify:
        raise click.UsageError("Choose --mcp or --legacy-notify, not both.")
    if legacy_notify:
        _check_notify(agent)
    run(agent, scope, apply_, json_, mcp=mcp, notify=legacy_notify, uninstall=True)
