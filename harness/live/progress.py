"""What a live run shows while it runs: elapsed time, the scenario's rate against the
rate actually sent, p95 and errors over the last window, active faults.

On a terminal it is a live panel (rich), redrawn twice a second on stderr; otherwise
(CI logs) one plain line every ``every`` seconds.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from harness.units import format_duration

__all__ = ["Display", "Recent", "Status"]


@dataclass
class Status:
    name: str
    done_s: float  #: scenario seconds so far
    total_s: float
    target_rps: float  #: arrivals due per scenario second, last window
    sent_rps: float  #: arrivals sent per scenario second, last window
    p95_s: float | None
    errors: int  #: answers that were not ok, last window
    answers: int  #: answers in the last window
    faults: list[str] = field(default_factory=list)
    lag_p99_ms: float | None = None

    def line(self) -> str:
        p95 = "-" if self.p95_s is None else format_duration(self.p95_s)
        err = 0.0 if not self.answers else 100 * self.errors / self.answers
        faults = ", ".join(self.faults) or "none"
        lag = "" if self.lag_p99_ms is None else f" · send lag p99 {self.lag_p99_ms:.0f} ms"
        return (f"  {self.name}: {format_duration(self.done_s)} of "
                f"{format_duration(self.total_s)} · rate {self.sent_rps:.1f}/s of "
                f"{self.target_rps:.1f}/s · p95 {p95} · errors {err:.1f}%{lag} · "
                f"faults: {faults}")


class Recent:
    """The recent sends and answers: the display's figures cover the last ``window``
    scenario seconds; answers are kept for ``keep`` seconds (the stop conditions may look
    further back)."""

    def __init__(self, window: float = 10.0, keep: float = 0.0) -> None:
        self.window, self.keep = window, max(window, keep)
        self.sent: deque[float] = deque()
        self.answers: deque[tuple[float, bool, float]] = deque()
        self.lags: deque[tuple[float, float]] = deque()

    def add(self, t: float, sent_s: float | None, bad: bool, latency: float | None,
            lag: float | None = None) -> None:
        if sent_s is not None:
            self.sent.append(sent_s)
        self.answers.append((t, bad, np.nan if latency is None else latency))
        if lag is not None and sent_s is not None:
            self.lags.append((sent_s, lag))

    def trim(self, now: float) -> None:
        """Forget what is older than the display's window (answers: than ``keep``)."""
        edge = now - self.window
        while self.sent and self.sent[0] < edge:
            self.sent.popleft()
        while self.lags and self.lags[0][0] < edge:
            self.lags.popleft()
        while self.answers and self.answers[0][0] < now - self.keep:
            self.answers.popleft()

    def figures(self, now: float) -> tuple[float, int, int, float | None, float | None]:
        """(sent per second, answers, bad answers, p95, p99 send lag ms) over the window."""
        self.trim(now)
        edge = now - self.window
        answers = [a for a in self.answers if a[0] >= edge]
        span = min(self.window, max(now, 1e-9))
        lat = [a[2] for a in answers if not np.isnan(a[2])]
        p95 = float(np.percentile(lat, 95)) if lat else None
        lag = float(np.percentile([x[1] for x in self.lags], 99)) * 1000 if self.lags else None
        return len(self.sent) / span, len(answers), sum(a[1] for a in answers), p95, lag


class Display:
    def __init__(self, stream: IO[str] | None = None, every: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = time.monotonic()
        self._live: Any = None
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self.stream), refresh_per_second=2,
                              transient=True)
            self._live.start()

    def update(self, status: Status) -> None:
        if self._live is not None:
            self._live.update(_panel(status))
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print(status.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _panel(s: Status) -> Any:
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row(s.name, ProgressBar(total=s.total_s, completed=min(s.done_s, s.total_s),
                                      width=40))
    table.add_row("elapsed", f"{format_duration(s.done_s)} of {format_duration(s.total_s)}")
    table.add_row("rate", f"{s.sent_rps:.1f}/s sent of {s.target_rps:.1f}/s due")
    table.add_row("p95", "-" if s.p95_s is None else format_duration(s.p95_s))
    err = 0.0 if not s.answers else 100 * s.errors / s.answers
    table.add_row("errors", f"{err:.1f}% of {s.answers} answers (last 10 s)")
    if s.lag_p99_ms is not None:
        table.add_row("send lag", f"p99 {s.lag_p99_ms:.0f} ms")
    table.add_row("faults", ", ".join(s.faults) or "none")
    return table
