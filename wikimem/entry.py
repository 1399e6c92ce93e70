"""Console entry point: `wikimem hook ...` and a plain `wikimem search ...` take fast paths
that do not load click; the rest is click."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Run the wikimem command line."""
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) >= 2 and args[0] == "hook" and not {"-h", "--help"} & set(args[1:]):
        # Why: the agent waits for every hook; click and the compile stack cost more to
        # import than the hook's whole job, so the hook never loads them.
        from wikimem.hook import run

        sys.exit(run(args[1], args[2:]))
    if "search" in args[:3]:
        # Why: a search from the terminal should cost no more than grep over the wiki; the
        # click command tree and what its commands import cost more than the search itself.
        request = _search_request(args)
        if request is not None:
            code = _search(request)
            if code is not None:
                sys.exit(code)
    from wikimem.cli import cli

    cli.main(args=args, prog_name="wikimem")


_SEARCH_FLAGS = {"--all": "include_all", "--json": "json"}
_SEARCH_VALUES = {"--kind": "kinds", "--since": "since", "--until": "until", "--limit": "limit",
                  "-n": "limit"}


def _search_request(args: list[str]) -> dict | None:
    """The options of a plain `wikimem [--project P] search ...`, or None for anything else
    (help, an unknown option, a value click would reject): click then handles it, and says
    what is wrong in its own words."""
    request: dict = {"project": os.environ.get("WIKIMEM_PROJECT") or None, "kinds": [],
                     "since": None, "until": None, "include_all": False, "json": False,
                     "limit": 10, "words": []}
    rest = list(args)
    if rest and rest[0].startswith("--project"):
        if rest[0] == "--project" and len(rest) >= 2:
            request["project"], rest = rest[1], rest[2:]
        elif rest[0].startswith("--project="):
            request["project"], rest = rest[0].split("=", 1)[1], rest[1:]
        else:
            return None
    if not rest or rest[0] != "search":
        return None
    rest = rest[1:]
    words: list[str] = request["words"]
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            words += rest
            break
        if not arg.startswith("-") or arg == "-":
            words.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name in _SEARCH_FLAGS and not eq:
            request[_SEARCH_FLAGS[name]] = True
            continue
        if name not in _SEARCH_VALUES or not (eq or rest):
            return None
        if not eq:
            value = rest.pop(0)
        key = _SEARCH_VALUES[name]
        if key == "kinds":
            request["kinds"].append(value)
        elif key == "limit":
            if not value.isdigit() or not 1 <= int(value) <= 1000:
                return None
            request["limit"] = int(value)
        else:
            request[key] = _date(value)
            if request[key] is None:
                return None
    if not words or request["project"] == "":
        return None
    return request


def _date(value: str):
    """A --since/--until value as the click command reads it, or None when it is not one."""
    from datetime import date, datetime

    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _search(request: dict) -> int | None:
    """Run the search and print it; the exit status, or None to let click run it instead
    (what click reports in its own way: a bad --kind, an empty query, an OS error)."""
    from wikimem.errors import WikimemError

    if os.name != "nt":
        os.umask(0o077)  # as the click group sets it: an index rebuilt here is the user's alone
    try:
        from wikimem.capture import privacy
        from wikimem.project import Registry
        from wikimem.search import whoosh_load

        whoosh_load.lightly()  # (without what Whoosh imports and a search never uses)
        from wikimem.search.index import SearchIndex, SearchInputError, format_hits

        text = " ".join(request["words"])
        if not text.strip():
            return None
        ref, projects = request["project"], Registry()
        if ref and not os.path.isdir(ref):
            project = projects.find(ref)
        else:
            project = projects.resolve(ref or os.getcwd(), create=False)
        # As every command does: a mistake in the privacy settings is an error.
        settings = privacy.apply(project)
        if settings.errors:
            raise WikimemError("; ".join(settings.errors) + ".")
        index = SearchIndex(project.index_dir, project.wiki_dir)
        try:
            hits = index.search(text, kinds=request["kinds"], since=request["since"],
                                until=request["until"], include_all=request["include_all"],
                                limit=request["limit"])
        except SearchInputError:
            return None
        out = format_hits(hits, request["json"])
        from wikimem.search.uses import record_use

        record_use(project, [h.path for h in hits], "search")  # (as the click command does)
    except WikimemError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except Exception:
        # Read-only so far (an index rebuild aside, which is safe to redo): click's command
        # runs it again and reports the error as every command does.
        return None
    try:
        sys.stdout.write(out + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `wikimem search x | head -1`: end quietly, as git does
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
    return 0
