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
         "notify": "the wikimem legacy notify", "instructions": "wikimem's instructions"}


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


def check_rules_scope(agent: str, scope: str) -> None:
    """--instructions only in a scope where the agent has a rules file (Cursor: project)."""
    from wikimem.agents.installers import installer

    inst = installer(agent)
    if scope not in inst.rules_scopes:
        raise click.UsageError(
            f"{inst.label} keeps its {scope} rules outside any file; use "
            f"{' or '.join(f'--scope {s}' for s in inst.rules_scopes)} with --agent {agent}.")


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
@click.option(
    "--scope", type=click.Choice(("user", "project")), default=None,
    help="user: your settings in the home folder; project: the settings in this git "
         "repository. Default: user, but project with --instructions (as install-instructions).")
@click.option("--mcp", is_flag=True, help="Remove the MCP server instead of the hooks.")
@click.option("--instructions", is_flag=True,
              help="Remove wikimem's instructions block from the agent's rules file instead "
                   "(see install-instructions; give the same --scope).")
@click.option("--legacy-notify", is_flag=True,
              help="Codex only: remove wikimem's `notify` from config.toml instead.")
@apply_option
@json_option
def uninstall(agent: str, scope: str | None, mcp: bool, instructions: bool, legacy_notify: bool,
              apply_: bool, json_: bool) -> None:
    """Remove wikimem's hooks (or, with --mcp, its MCP server; with --instructions, its
    block in the agent's rules file) from the agent's settings.

    Only wikimem's entries go: everything else stays as it was. Shows the change;
    --apply writes it (after a backup).
    """
    if sum((mcp, instructions, legacy_notify)) > 1:
        raise click.UsageError("Choose one of --mcp, --instructions and --legacy-notify.")
    if legacy_notify:
        _check_notify(agent)
    if scope is None:
        scope = "project" if instructions else "user"
    if instructions:
        check_rules_scope(agent, scope)
    run(agent, scope, apply_, json_, mcp=mcp, notify=legacy_notify, instructions=instructions,
        uninstall=True)
