"""The `wikimem` command line: thin click commands over the library.

Every command resolves the project (from `--project` or the working directory), calls one
library function, and prints. Domain errors become `Error: ...` with exit status 1.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from datetime import date, datetime

import click

from wikimem import __version__
from wikimem.errors import WikimemError

_SETTINGS_WRITERS = {"install-hooks", "install-mcp", "install-instructions", "uninstall"}
# errno values that mean "no room to write": no space, a file size limit, a disk quota.
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
json_option = click.option("json_", "--json", is_flag=True, help="Print JSON instead of text.")


def _quiet_broken_pipe() -> None:
    """The reader of our output left (`wikimem search x | head -1`): end quietly, as git does.

    Whatever is still buffered for stdout goes to the null device, so the interpreter's last
    flush does not fail again on the closed pipe.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # no real file behind stdout (a test runner's buffer): nothing will flush it
    raise click.exceptions.Exit(0)


class WikimemGroup(click.Group):
    """A click group that turns domain and OS errors into clean `Error:` messages."""

    def make_context(self, *args, **kwargs) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:  # `wikimem --help | head -1`
            _quiet_broken_pipe()

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except WikimemError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            if exc.errno in _DISK_FULL:
                raise click.ClickException(
                    f"The disk is full or a file size limit was reached{where}: "
                    f"{exc.strerror or exc}. Free some space and run the command again; "
                    "what was recorded before is kept.") from exc
            raise click.ClickException(
                f"{exc.strerror or exc}{where}. Check that the path exists and is writable, "
                "or set WIKIMEM_HOME to a folder you can write."
            ) from exc
        except Exception as exc:
            if not type(exc).__module__.startswith("git."):
                raise
            # GitPython's errors (a git command that failed), without importing git here.
            detail = " ".join(str(exc).split())[:500]
            raise click.ClickException(
                f"git failed on the wiki repository: {detail}. Check the disk and "
                "`git status` in `wikimem path`, then run the command again; the raw log keeps "
                "every observation.") from exc


@click.group(cls=WikimemGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project",
    "project_ref",
    metavar="NAME|UUID|DIR",
    envvar="WIKIMEM_PROJECT",
    help="Project to use (default: the one the current directory belongs to).",
)
@click.version_option(__version__, prog_name="wikimem")
@click.pass_context
def cli(ctx: click.Context, project_ref: str | None) -> None:
    """Long-term memory for AI coding agents, kept as a git-backed markdown wiki.

    Agent hooks record each session in an append-only log; `wikimem compile` turns sessions
    into markdown pages in a per-project git repository; `search` and `context` read them
    back. Data lives under $WIKIMEM_HOME (see `wikimem path --home`).
    """
    ctx.obj = {"project_ref": project_ref}
    if os.name != "nt" and ctx.invoked_subcommand not in _SETTINGS_WRITERS:
        # Files and folders created under the wikimem home are the user's alone (0600,
        # 0700), git objects and index segments included. Not for the commands that write
        # agents' settings files, which keep the user's usual modes.
        os.umask(0o077)


def announce_registered(project) -> None:
    """Say on stderr that a command registered a new project (stdout may be --json)."""
    click.echo(f"Registered project {project.workspace}/{project.name} at {project.root}.",
               err=True)


def registry():
    """The project registry, announcing every project it registers."""
    from wikimem.project import Registry

    return Registry(on_register=announce_registered)


def project_from(ctx: click.Context, *, create: bool = False, strict: bool = True,
                 path: str | None = None, announce: bool = True):
    """The project of `path`, `--project` or the working directory, with its privacy settings
    in use.

    Commands that record something pass `create`: an unregistered folder is then registered
    and that is said on stderr (unless the command says it itself: `announce`); the others
    need a registered project. A mistake in the privacy settings is an error (`strict`), or -
    for the compile a hook starts, which nobody watches - a line in the project's error log,
    the faulty entry left out.
    """
    from wikimem import config
    from wikimem.project import Registry

    projects = registry() if announce else Registry()
    ref = path or (ctx.obj or {}).get("project_ref")
    if ref and not path and not os.path.isdir(ref):
        project = projects.find(ref)
    else:
        project = projects.resolve(ref or os.getcwd(), create=create)
    config.apply_privacy(project, strict=strict)
    return project


def compile_settings() -> dict:
    """Compile options from the configuration (config.toml and WIKIMEM_* variables)."""
    from wikimem import config

    cfg = config.load()
    return {"budget": cfg.context_budget, "claim_expiry_minutes": cfg.claim_expiry_minutes,
            "llm": cfg.llm}


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@cli.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@json_option
@click.pass_context
def init(ctx: click.Context, path: str | None, json_: bool) -> None:
    """Register the project at PATH (default: here) and create its wiki repository."""
    from wikimem.wiki import gitrepo

    # (What init prints says which project it registered: no second announcement.)
    project = project_from(ctx, create=True, path=path, announce=False)
    project.ensure_dirs()
    gitrepo.open_repo(project.wiki_dir)
    if json_:
        echo_json(project.as_dict())
        return
    click.echo(f"Project {project.workspace}/{project.name} ({project.project_id})")
    click.echo(f"  root: {project.root}")
    click.echo(f"  wiki: {project.wiki_dir}")
    click.echo("Next: install the agent hooks so sessions are recorded "
               "(see README, 'Use it in your project').")


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def projects(ctx: click.Context, json_: bool) -> None:
    """List registered projects (or rename one: `wikimem projects rename OLD NEW`)."""
    if ctx.invoked_subcommand is not None:
        return
    from wikimem.project import Registry

    found = Registry().projects()
    if json_:
        echo_json([p.as_dict() for p in found])
        return
    if not found:
        click.echo("No projects yet. Run `wikimem init` inside a repository.")
        return
    for p in found:
        click.echo(f"{p.workspace}/{p.name}\t{p.project_id}\t{p.root}")


@projects.command("rename")
@click.argument("old")
@click.argument("new")
def projects_rename(old: str, new: str) -> None:
    """Rename a project; its UUID and files stay where they are."""
    from wikimem.project import Registry

    project = Registry().rename(old, new)
    click.echo(f"Renamed to {project.workspace}/{project.name} ({project.project_id}).")


@cli.command()
@click.option("--home", "what", flag_value="home", help="Print $WIKIMEM_HOME instead.")
@click.option("--raw", "what", flag_value="raw", help="Print the raw log folder instead.")
@click.option("--project-dir", "what", flag_value="dir", help="Print the project's data folder.")
@click.pass_context
def path(ctx: click.Context, what: str | None) -> None:
    """Print the project's wiki folder (try: cd "$(wikimem path)" && git log)."""
    if what == "home":
        from wikimem.project import home

        click.echo(str(home()))
        return
    project = project_from(ctx)
    click.echo(str({"raw": project.raw_dir, "dir": project.dir}.get(what, project.wiki_dir)))


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("agent")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(agent: str, args: tuple[str, ...]) -> None:
    """Record one agent hook event read from stdin (run by the agent, not by people).

    AGENT is the agent's name (claude-code). Always exits 0: problems go to the project's
    error log, `state/errors.log` under `wikimem path --project-dir`.
    """
    from wikimem.hook import run

    sys.exit(run(agent, list(args)))


@cli.command(name="compile")
@click.option("--rebuild", is_flag=True, help="Recompile every session from the raw log.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless something failed.")
@click.option("--no-wait", is_flag=True, help="If a compile is running, leave it the work.")
@click.option("--llm/--no-llm", "use_llm", default=None,
              help="Consolidate changed sessions with an LLM (default: [llm] enabled in config).")
@click.option("--dry-run", is_flag=True,
              help="With --llm: print what would be sent to the model and its size; change "
                   "nothing.")
@json_option
@click.pass_context
def compile_cmd(ctx, rebuild, quiet, no_wait, use_llm, dry_run, json_) -> None:
    """Compile new session observations into wiki pages, commit them and update the index."""
    import dataclasses

    from wikimem.compile.build import compile_project
    from wikimem.compile.read import plan_llm

    project = project_from(ctx, strict=not quiet)
    settings = compile_settings()
    if use_llm is not None:
        settings["llm"] = dataclasses.replace(settings["llm"], enabled=use_llm)
    if dry_run:
        if not settings["llm"].enabled:
            raise click.UsageError("--dry-run shows what LLM consolidation would send: add --llm.")
        _print_llm_plan(plan_llm(project, settings["llm"]), settings["llm"], json_)
        return
    from wikimem.cli.progress import meter

    say = None if (quiet or json_) else (lambda msg: click.echo(msg, err=True))
    steps = meter(quiet, json_)
    try:
        result = compile_project(project, rebuild=rebuild, wait=not no_wait, progress=say,
                                 steps=steps, **settings)
    except Exception as exc:
        if quiet:  # a compile a hook started: nobody reads its output; doctor reads this log
            from wikimem.capture.observe import log_error

            log_error(project.error_log, f"compile failed: {type(exc).__name__}: {exc}",
                      stage="compile")
        raise
    steps.close()
    if not result.busy:
        from wikimem.sync.exchange import start_background_sync

        start_background_sync(project)  # (`[sync] auto`; never fatal, never in the hook)
    if json_:
        echo_json(result.to_dict())
        return
    if result.busy:
        if not quiet:
            click.echo("Another compile is running; it will include the new work.")
        return
    if quiet:
        return
    for rel in result.written:
        click.echo(f"  wrote {rel}")
    for rel in result.human_edited:
        click.echo(f"  kept {rel} (edited by a person; not overwritten)")
    for rel in result.refused:
        click.echo(f"  not written: {rel} (behind a symbolic link; `wikimem doctor` names it)")
    for name, lines in result.bad_lines.items():
        click.echo(f"  skipped {len(lines)} unreadable line(s) in raw/{name}: {lines[:5]}")
    for page, targets in result.broken_links.items():
        click.echo(f"  broken link(s) in {page}: {', '.join(targets)}")
    if result.index_rebuilt:
        click.echo("  the search index was missing or damaged and has been rebuilt")
    if result.llm:
        llm = result.llm
        click.echo(f"  LLM: {len(llm['consolidated'])} session(s) consolidated, "
                   f"{llm['called']} call(s), {llm['cached']} from cache")
        for skip in llm["skipped"]:
            click.echo(f"  LLM skipped {skip['session']}: {skip['reason']} "
                       "(rule-based pages kept)")
        for sid, n in llm.get("dropped", {}).items():
            click.echo(f"  LLM dropped {n} statement(s) of {sid} whose quote is not in the "
                       "session")
        for sid in llm.get("held", []):
            click.echo(f"  LLM held {sid}: its answers were rejected too often; it is tried "
                       "again when it changes, or with `wikimem compile --llm --rebuild`")


def _print_llm_plan(requests, settings, json_: bool) -> None:
    if json_:
        echo_json([{"session": r.session_id, "estimated_input_tokens": r.estimated_tokens,
                    "max_output_tokens": settings.max_output_tokens, "model": settings.model,
                    "system": r.system, "prompt": r.prompt} for r in requests])
        return
    if not requests:
        click.echo("Nothing to consolidate: no session changed since its last consolidation.")
        return
    total = sum(r.estimated_tokens for r in requests)
    for r in requests:
        click.echo(f"=== session {r.session_id}: ~{r.estimated_tokens} input tokens "
                   f"(+ up to {settings.max_output_tokens} output), model {settings.model}")
        click.echo(r.prompt)
    click.echo(f"{len(requests)} call(s), ~{total} input tokens in all; caps: "
               f"{settings.max_calls_per_compile} calls per compile, "
               f"{settings.max_calls_per_day} calls and {settings.max_tokens_per_day} tokens per "
               "day. Nothing was sent.")


@cli.command()
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless something failed.")
@json_option
@click.pass_context
def reindex(ctx: click.Context, quiet: bool, json_: bool) -> None:
    """Rebuild the search index from the wiki pages (it is a disposable cache), and with the
    hybrid search on (`wikimem semantic`) the page embeddings beside it."""
    from wikimem.cli.progress import meter
    from wikimem.search.index import SearchIndex

    project = project_from(ctx)
    steps = meter(quiet, json_)
    count = SearchIndex(project.index_dir, project.wiki_dir).rebuild(
        steps=lambda done, total: steps("indexing", done, total),
        embedding=lambda done, total: steps("embedding", done, total))
    steps.close()
    if json_:
        echo_json({"indexed": count})
    elif not quiet:
        click.echo(f"Indexed {count} page{'' if count == 1 else 's'}.")


def parse_date(ctx, param, value: str | None):
    if value is None:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-21") from None


@cli.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--kind", "kinds", multiple=True,
              help="Only pages of this kind: session, decision, lesson, note, goal, task, ... "
                   "(singular or plural; repeatable).")
@click.option("--since", callback=parse_date, help="Only pages updated on/after this date.")
@click.option("--until", callback=parse_date, help="Only pages updated on/before this date.")
@click.option("--all", "include_all", is_flag=True, help="Include superseded and retracted pages.")
@click.option("--limit", "-n", default=10, show_default=True, type=click.IntRange(1, 1000))
@json_option
@click.pass_context
def search(ctx, query, kinds, since, until, include_all, limit, json_) -> None:
    """Search the project's wiki (ranked, with snippets)."""
    from wikimem.search.index import SearchIndex, SearchInputError, check_query, format_hits

    try:
        text = check_query(" ".join(query))
    except SearchInputError as exc:
        raise click.UsageError(str(exc)) from exc
    project = project_from(ctx)
    index = SearchIndex(project.index_dir, project.wiki_dir)
    try:
        hits = index.search(text, kinds=kinds, since=since, until=until,
                            include_all=include_all, limit=limit)
    except SearchInputError as exc:
        raise click.BadParameter(str(exc), param_hint="'--kind'") from exc
    from wikimem.search.uses import record_use

    record_use(project, [h.path for h in hits], "search")  # decay: these memories were used
    # (entry.py answers a plain `wikimem search` without loading click: keep the two alike.)
    click.echo(format_hits(hits, json_))


@cli.command()
@click.option("--budget", type=click.IntRange(200, 100_000), metavar="CHARS",
              help="Build the block for this many characters (default: as compiled).")
@click.option("--explain", is_flag=True,
              help="List every candidate: its section, size, score, and why it was included, "
                   "shortened or left out.")
@json_option
@click.pass_context
def context(ctx: click.Context, budget: int | None, explain: bool, json_: bool) -> None:
    """Print the context block a new agent session gets (precomputed by compile)."""
    from wikimem.compile.read import build_project_context, ensure_compiled_context

    project = project_from(ctx)
    if explain:
        from wikimem.cli.decay import print_explain

        print_explain(project, budget or compile_settings()["budget"], json_)
        return
    block = build_project_context(project, budget) if budget else ensure_compiled_context(project)
    if json_:
        echo_json({"project": project.name, "chars": len(block), "context": block})
        return
    if not block:
        click.echo("No context yet: nothing has been compiled for this project.", err=True)
        return
    click.echo(block)


@cli.command()
@click.option("--home", "home_dir", type=click.Path(file_okay=False),
              help="Use this folder as WIKIMEM_HOME (default: a new temporary folder).")
def demo(home_dir: str | None) -> None:
    """Replay a recorded Claude Code session through the real hook, compile it, and show it.

    Runs offline in a throwaway home: no API key, no server, nothing of yours touched.
    """
    from wikimem.demo import run_demo

    run_demo(home_dir, echo=click.echo)


# Command groups defined in their own modules register themselves on `cli`.
from wikimem.cli import (  # noqa: E402, F401
    bootstrap,
    catchup,
    decay,
    imports,
    install,
    instructions,
    lint,
    memory,
    orchestrate,
    purge,
    semantic,
    serve,
    status,
    sync,
    timetravel,
    watch,
    web,
)
