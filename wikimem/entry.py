"""Console entry point: `wikimem hook ...` takes a stdlib-only fast path; the rest is click."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run the wikimem command line."""
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) >= 2 and args[0] == "hook" and not {"-h", "--help"} & set(args[1:]):
        # Why: the agent waits for every hook; click and the compile stack cost more to
        # import than the hook's whole job, so the hook never loads them.
        from wikimem.hook import run

        sys.exit(run(args[1], args[2:]))
    from wikimem.cli import cli

    cli.main(args=args, prog_name="wikimem")
