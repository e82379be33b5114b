"""The command line's progress bar: one bar over all the work, compilation included.

:class:`ProgressBar` is the ``progress(done, total)`` callable the host gives a use
case (or a sweep). Until the first call it shows ``compiling…`` (a TF or JAX
runtime traces and compiles before the first result), on a terminal with the
seconds elapsed counting up (``compiling… 12s``); from the first call on it is a
tqdm bar. The first call also marks where this job started: a resumed job
reports the work finished before it, and the time estimate counts only the work
this job has done itself, from its own first report, so it is neither fooled by
the finished part nor by the time spent compiling.

>>> import io
>>> stream = io.StringIO()
>>> bar = ProgressBar("demo", stream)
>>> for done in (6, 7, 8, 9, 10):
...     bar(done, 10)
>>> bar.close()
>>> print(stream.getvalue())
demo: compiling…
demo:  60%|######...| 6/10 [00:00<?]
demo: 100%|######...| 10/10 [00:00<00:00]
<BLANKLINE>
>>> bar.first, bar.last
((6, 10), (10, 10))
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

__all__ = ["ProgressBar"]

_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]"


class ProgressBar:
    """``progress(done, total)`` drawn with tqdm on ``stream`` (default: stderr).

    On a terminal it is a live tqdm bar; on anything else (a log file, CI) it writes
    the same line, rendered by tqdm, at most every ``log_interval`` seconds and at
    the end, one line each. ``first`` and ``last`` hold the first and latest
    ``(done, total)`` reported (None before any report), so the host can say how
    far an interrupted job got.
    """

    def __init__(self, label: str, stream: TextIO | None = None, *, log_interval: float = 10.0,
                 tick: float = 1.0) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty())
        self.log_interval = log_interval
        self.first: tuple[int, int] | None = None
        self.last: tuple[int, int] | None = None
        self._bar: Any = None
        self._started = 0.0
        self._logged = -float("inf")
        self._lock = threading.Lock()
        self._waiting = threading.Event()
        self._created = time.monotonic()
        self.stream.write(f"{label}: compiling…" + ("" if self.interactive else "\n"))
        self.stream.flush()
        self._ticker: threading.Thread | None = None
        if self.interactive:
            self._waiting.set()
            self._ticker = threading.Thread(target=self._tick, args=(tick,), daemon=True, name="recosim-progress")
            self._ticker.start()

    def _tick(self, interval: float) -> None:
        """Until the first report (or close): rewrite the ``compiling…`` line with the seconds elapsed."""
        while self._waiting.is_set():
            time.sleep(interval)
            with self._lock:
                if not self._waiting.is_set():
                    return
                elapsed = time.monotonic() - self._created
                self.stream.write(f"\r{self.label}: compiling… {elapsed:.0f}s")
                self.stream.flush()

    def _stop_ticking(self) -> None:
        with self._lock:
            self._waiting.clear()

    def __call__(self, done: int, total: int) -> None:
        done, total = int(done), int(total)
        self.last = (done, total)
        if self.first is None:
            self._stop_ticking()
            self.first = (done, total)
            self._started = time.monotonic()
            if self.interactive:
                self.stream.write("\r")
                self._bar = self._tqdm(total=total, initial=done, desc=self.label, file=self.stream,
                                       bar_format=_FORMAT, smoothing=0, mininterval=0.1, dynamic_ncols=True)
        if self._bar is not None:
            if total != self._bar.total:
                self._bar.total = total
            self._bar.update(done - self._bar.n)
            return
        now = time.monotonic()
        if now - self._logged >= self.log_interval or done >= total:
            self._logged = now
            line = self._tqdm.format_meter(done, total, now - self._started, ncols=80, prefix=self.label,
                                           ascii=True, bar_format=_FORMAT, initial=self.first[0])
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Finish the bar's line (call it when the work ends or is interrupted)."""
        self._stop_ticking()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.interactive and self.first is None:
            self.stream.write("\n")
            self.stream.flush()
