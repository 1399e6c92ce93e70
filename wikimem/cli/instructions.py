"""`wikimem install-instructions`: tell the agent, in its rules file, to keep its memory.

The block (templates/agent-instructions.md) goes at the end of CLAUDE.md, AGENTS.md,
GEMINI.md or Cursor's .cursor/rules/wikimem.mdc, between marker lines; the rest of the file
stays byte for byte. Same contract as install-hooks: a diff first, --apply writes it after a
backup, again changes nothing, `wikimem uninstall --instructions` removes it. See
wikimem.agents.install_block.
"""

from __future__ import annotations

import click

from wikimem.cli import cli, json_option
from wikimem.cli.install import agent_option, apply_option, check_rules_scope, run


@cli.command("install-instructions")
@agent_option
@click.option(
    "--scope", type=click.Choice(("user", "project")), default="project", show_default=True,
    help="project: the rules file at this git repository's root (Cursor: "
         ".cursor/rules/wikimem.mdc); user: the agent's rules file in your home folder, for "
         "every project.")
@apply_option
@json_option
def install_instructions(agent: str, scope: str, apply_: bool, json_: bool) -> None:
    """Add a short block to the agent's rules file saying when to search wikimem and how to
    record decisions, lessons, notes and task progress.

    Shows the change to the file; --apply writes it (after a backup). Everything else in
    the file stays as it is; running it again changes nothing.
    """
    check_rules_scope(agent, scope)
    run(agent, scope, apply_, json_, instructions=True)
