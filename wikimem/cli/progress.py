"""Progress of long commands: the command line's side of the library's `steps` callback.

Library functions that can run long (compile, the index's rebuild, import, bootstrap) take a
`steps(stage, done, total)` callable: called with done 0 when a stage starts, then as its
items are done, done == total at its end (total None: not known ahead). They know nothing of
terminals. `meter(quiet, json_)` turns those calls into, on stderr (stdout keeps the result):

- on a terminal, one click progress bar per stage with its count, rate and estimate;
- when stderr is not a terminal (a pipe, a log file), plain lines: a stage's count, rate and
  estimate at most every LINE_EVERY seconds while it runs, and its total, time and rate when
  it ends;
- with --json, the same moments as JSON lines: {"stage", "done", "total", "seconds",
  "finished"};
- with --quiet, nothing.

The hook never gets here: its compiles run detached with --quiet.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

import click

LINE_EVERY = 5.0  # seconds between plain or JSON lines of one stage
BAR_EVERY = 0.1  # seconds between redraws of a bar
LABEL_WIDTH = 19  # the longest stage name ("reading transcripts"), so the bars line up


def _number(n: int) -> str:
    return f"{n:,}"


def _rate(done: int, seconds: float) -> str:
    return f"{done / seconds:,.0f}/s" if seconds > 0 and done else "-/s"


class Meter:
    """Shows the stages of one command; call it as `steps`, then `close()` at the end."""

    def __init__(self, mode: str, file: TextIO | None = None, clock=time.monotonic):
        self.mode = mode  # "bar", "lines", "json" or "off"
        self.file = file or sys.stderr
        self.clock = clock
        self.stage: str | None = None
        self.done, self.total = 0, None
        self.started = self.shown = 0.0
        self.finished = True
        self._bar = None

    def __call__(self, stage: str, done: int, total: int | None = None) -> None:
        if self.mode == "off":
            return
        now = self.clock()
        # A new stage, or one that ended starting again (the next project, the next round)
        if stage != self.stage or (self.finished and done == 0 and total != 0):
            self._end(now)
            self.stage, self.started, self.shown, self.finished = stage, now, now, False
            self.done, self.total = 0, total
            if self.mode == "bar":
                self._bar = click.progressbar(
                    length=total or 0, label=stage.ljust(LABEL_WIDTH), show_pos=True,
                    show_eta=True, show_percent=False, file=self.file, width=24,
                    item_show_func=lambda _: _rate(self.done, self.clock() - self.started))
                self._bar.length = total  # None: a count without a total or an estimate
                self._bar.__enter__()
            elif self.mode == "json":
                self._json(now)
        elif self.finished:
            return
        advanced, self.done, self.total = done - self.done, done, total
        if total is not None and done >= total:
            self._end(now)
            return
        if self.mode == "bar":
            self._bar.length = total
            if now - self.shown >= BAR_EVERY:  # a redraw per item would cost more than it
                self.shown = now
                self._bar.update(advanced)
            else:
                self._bar.make_step(advanced)
        elif now - self.shown >= LINE_EVERY:
            self.shown = now
            if self.mode == "json":
                self._json(now)
            else:
                self._line(now)

    def close(self) -> None:
        """End the stage being shown (its last line, or the bar's)."""
        if self.mode != "off":
            self._end(self.clock())
        self.stage = None

    def _end(self, now: float) -> None:
        if self.stage is None or self.finished:
            return
        self.finished = True
        if self.mode == "bar":
            bar, self._bar = self._bar, None
            bar.length = max(self.total or 0, self.done)
            bar.make_step(self.done - bar.pos)
            bar.render_progress()  # the last count, even when the last step was not drawn
            bar.__exit__(None, None, None)
        elif self.mode == "json":
            self._json(now, finished=True)
        else:
            self._line(now, finished=True)

    def _line(self, now: float, finished: bool = False) -> None:
        seconds = now - self.started
        if finished:
            text = (f"{self.stage}: {_number(self.done)} in {seconds:.1f} s "
                    f"({_rate(self.done, seconds)})")
        else:
            of = f"/{_number(self.total)}" if self.total is not None else ""
            text = f"{self.stage}: {_number(self.done)}{of} ({_rate(self.done, seconds)}"
            if self.total and self.done and seconds > 0:
                left = (self.total - self.done) * seconds / self.done
                text += f", about {left:.0f} s left"
            text += ")"
        click.echo(text, file=self.file)

    def _json(self, now: float, finished: bool = False) -> None:
        click.echo(json.dumps({"stage": self.stage, "done": self.done, "total": self.total,
                               "seconds": round(now - self.started, 3),
                               "finished": finished}), file=self.file)


def meter(quiet: bool = False, json_: bool = False, file: TextIO | None = None) -> Meter:
    """The Meter a command's options ask for: nothing with --quiet, JSON lines with --json,
    a bar on a terminal, plain lines otherwise."""
    file = file or sys.stderr
    if quiet:
        return Meter("off", file)
    if json_:
        return Meter("json", file)
    return Meter("bar" if file.isatty() else "lines", file)
