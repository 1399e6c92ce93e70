"""`wikimem lint`: what is wrong with the project's memory, and what to do about each."""

from __future__ import annotations

import click

from wikimem.cli import cli, compile_settings, echo_json, json_option, project_from


@cli.command()
@click.option("--fix-links", is_flag=True,
              help="Point broken links that have one clear target at it (then compile).")
@click.option("--proposed-days", type=click.FloatRange(min=0), default=14, show_default=True,
              metavar="N", help="Report proposed items waiting longer than N days.")
@click.option("--llm/--no-llm", "use_llm", default=None,
              help="Also ask the LLM which decisions contradict each other (default: [llm] "
                   "enabled in config; cached, within the same caps as consolidation).")
@json_option
@click.pass_context
def lint(ctx, fix_links, proposed_days, use_llm, json_) -> None:
    """Check the wiki: broken links, orphans, stale or dangling memories, contradicting
    decisions, near-duplicates, waiting proposals, expired claims, pages to merge.

    Exits 1 when a finding is an error (broken link, dangling memory, contradiction).
    """
    from wikimem.compile.decay import project_settings
    from wikimem.compile.lint import ERROR, llm_contradictions, merge_contradictions
    from wikimem.compile.lint import fix_links as fix
    from wikimem.compile.lint import lint as check
    from wikimem.compile.read import load_memory

    project = project_from(ctx)
    settings = compile_settings()
    ask = settings["llm"].enabled if use_llm is None else use_llm
    problems: list[str] = []

    def run():
        memory = load_memory(project)
        found = check(project.wiki_dir, memory, proposed_days=proposed_days,
                      claim_expiry_minutes=settings["claim_expiry_minutes"],
                      settings_errors=project_settings(project)[1])
        if ask:
            more, problems[:] = llm_contradictions(project, memory, settings["llm"])
            found = merge_contradictions(found, more)
        return found

    findings = run()
    fixed: list[str] = []
    if fix_links:
        fixed = fix(project.wiki_dir, findings)
        if fixed:
            from wikimem.compile.build import compile_project

            compile_project(project, **settings)  # commits the fixed pages as a person's edit
            findings = run()
    errors = [f for f in findings if f.level == ERROR]
    if json_:
        echo_json({"errors": len(errors), "warnings": len(findings) - len(errors),
                   "fixed": fixed, "llm_problems": problems,
                   "findings": [f.to_dict() for f in findings]})
    else:
        for problem in problems:
            click.echo(f"Note: {problem}", err=True)
        for rel in fixed:
            click.echo(f"fixed links in {rel}")
        for f in findings:
            click.echo(f"{f.level}: {f.code}: {f.message}")
            click.echo(f"  what to do: {f.fix}")
        click.echo(f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)."
                   if findings else "No problems found.")
    if errors:
        raise click.exceptions.Exit(1)
