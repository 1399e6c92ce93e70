"""`wikimem status`: the project (or every project) at a glance; read only.

See wikimem.compile.status for what is read and the keys of --json.
"""

from __future__ import annotations

import click

from wikimem.cli import cli, echo_json, json_option, project_from, registry


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"


def _agents(agents: dict) -> list[str]:
    lines = []
    for agent, got in agents.items():
        parts = [f"{what} ({', '.join(scopes)})" for what, scopes in got.items()
                 if what != "error" and scopes]
        line = f"  {agent}: {', '.join(parts) if parts else 'nothing installed'}"
        if got.get("error"):
            line += f"; error: {got['error']}"
        lines.append(line)
    return lines


def show(s: dict) -> None:
    """One screen of a project's status."""
    p, sessions, pages, pending = s["project"], s["sessions"], s["pages"], s["pending"]
    click.echo(f"Project {p['workspace']}/{p['name']} ({p['id']})")
    click.echo(f"  root: {p['root']}")
    click.echo(f"  data: {p['data_dir']} (wiki/, raw/, index/, state/)")
    last = sessions["last"]
    click.echo(f"Sessions: {sessions['total']:,} ({_counts(sessions['by_agent'])})"
               + (f"; last {last['ended']} by {last['agent']}" if last else ""))
    click.echo(f"Pages: {pages['total']:,} ({_counts(pages['by_kind'])})"
               + (f"; {pages['machine_offers']} machine version(s) beside a person's edit"
                  if pages["machine_offers"] else ""))
    m = s["memory"]
    click.echo(f"Memory: {m['decision']} decision(s), {m['lesson']} lesson(s), {m['note']} "
               f"note(s), {m['goal']} goal(s) in force; {m['proposed']} proposed")
    if pending["logs"]:
        click.echo(f"Waiting for compile: {pending['observations']:,} observation(s) in "
                   f"{pending['logs']} log(s) (`wikimem compile`)")
    else:
        click.echo("Waiting for compile: nothing")
    if pending["interrupted"]:
        click.echo("  a compile was interrupted or is running (state/compile.journal)")
    c = s["last_compile"]
    if c is None:
        click.echo("Last compile: none recorded")
    elif c.get("error"):
        click.echo(f"Last compile: {c['finished']}, failed after {c['seconds']} s: {c['error']}")
    else:
        click.echo(f"Last compile: {c['finished']}, {c['seconds']} s"
                   + (" (rebuild)" if c.get("rebuild") else "")
                   + f", {c.get('pages_written', 0)} page(s) written"
                   + (f", commit {c['commit'][:10]}" if c.get("commit") else ""))
    i = s["index"]
    if not i["exists"]:
        click.echo("Index: none (`wikimem reindex`)")
    else:
        click.echo(f"Index: {_mb(i['bytes'])} in {i['files']} file(s), updated {i['updated']}, "
                   + ("fresh" if i["fresh"] else "older than some pages (`wikimem reindex`)"))
    click.echo("Agents:")
    for line in _agents(s["agents"]):
        click.echo(line)
    t = s["tasks"]
    click.echo(f"Tasks: {t['todo']} todo, {t['in_progress']} in progress")
    for claim in t["claims"]:
        click.echo(f"  {claim['id']} held by {claim['holder']} since {claim['since']}: "
                   f"{claim['title']}"
                   + (f" (last checkpoint: {claim['checkpoint']})" if claim["checkpoint"] else ""))
    llm = s["llm"]
    if llm["enabled"]:
        caps = llm.get("caps", {})
        click.echo(f"LLM: on ({llm.get('model')}); today {llm['today']['calls']}/"
                   f"{caps.get('calls_per_day')} calls, {llm['today']['tokens']:,}/"
                   f"{caps.get('tokens_per_day', 0):,} tokens"
                   + (f"; last error: {llm['last_error']}" if llm["last_error"] else ""))
    else:
        click.echo("LLM: off")
    sync = s["sync"]
    if sync is None:
        click.echo("Sync: not set up (`wikimem remote set URL`)")
    else:
        click.echo(f"Sync: {sync['url']} ({sync['ref']}) as {sync['machine']!r}; "
                   + (f"last sync failed ({sync['failures']} in a row): {sync['error']}"
                      if sync["error"] else f"last sync {sync['last_ok'] or 'never'}")
                   + (f"; {len(sync['conflicts'])} page(s) edited on two machines"
                      if sync["conflicts"] else ""))


def sync_status(project) -> dict | None:
    """The team-memory remote and the last syncs' outcome (None without a remote)."""
    from wikimem.errors import WikimemError
    from wikimem.sync import exchange, settings

    try:
        remote = settings.load(project)
    except WikimemError as exc:
        return {"url": None, "ref": None, "machine": None, "last_ok": None, "error": str(exc),
                "failures": 0, "conflicts": []}
    if remote is None:
        return None
    done = exchange.status(project)
    return {"url": remote.url, "ref": remote.ref, "machine": remote.machine,
            "last_ok": done.get("ok"), "error": done.get("error"),
            "failures": int(done.get("failures", 0)), "conflicts": done.get("conflicts", [])}


@cli.command()
@click.option("--all", "all_", is_flag=True, help="Every registered project, one line each.")
@json_option
@click.pass_context
def status(ctx, all_: bool, json_: bool) -> None:
    """What wikimem holds for this project and whether it is working: sessions and pages,
    observations waiting for compile, the last compile, the index, hooks per agent, open
    tasks and claims, the LLM layer. Reads only."""
    from wikimem.cli import compile_settings
    from wikimem.compile.status import project_status

    llm = compile_settings()["llm"]
    if not all_:
        project = project_from(ctx)
        found = {**project_status(project, llm), "sync": sync_status(project)}
        echo_json(found) if json_ else show(found)
        return
    everything = [{**project_status(p, llm), "sync": sync_status(p)}
                  for p in registry().projects()]
    if json_:
        echo_json({"projects": everything})
        return
    if not everything:
        click.echo("No projects yet. Run `wikimem init` inside a repository.")
    for s in everything:
        p, c = s["project"], s["last_compile"] or {}
        click.echo(f"{p['workspace']}/{p['name']}\t{s['sessions']['total']:,} sessions\t"
                   f"{s['pages']['total']:,} pages\t"
                   f"{s['pending']['observations']:,} waiting\t"
                   f"last compile {c.get('finished') or 'never'}"
                   + (" (failed)" if c.get("error") else "") + f"\t{p['root']}")
