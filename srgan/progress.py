"""Progress for logs: where stderr is not a terminal (a log file, a pipe), a plain line
now and then instead of a progress bar redrawn with carriage returns. Used by
``srgan.upscale`` (images and videos) and ``srgan.fit`` (``srgan.callbacks.LogProgress``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

# Seconds between progress lines when stderr is not a terminal (a log file, a pipe).
LOG_EVERY = 30.0


class LogLines:
    """Progress for a log: stderr that is not a terminal gets a plain line every
    ``LOG_EVERY`` seconds (none for work done sooner; a last one at the end after any),
    never the carriage returns and redrawn bars of a terminal's progress bar. Takes the
    calls the runs make of a tqdm bar."""

    def __init__(
        self, *, desc: str = "", total: float | None = None, unit: str = "", initial: float = 0
    ) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.n: float = initial
        self.initial = initial  # done before (a resumed run): not in the rate
        self.postfix = ""
        self.leave = True
        self.digits = 0
        self.start = self.last = time.monotonic()
        self.lines = 0

    def update(self, n: float = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= LOG_EVERY:
            self._line()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def set_description_str(self, text: str) -> None:
        self.desc = text

    @staticmethod
    def write(message: str, file: Any = None) -> None:
        print(message, file=file or sys.stderr, flush=True)

    def close(self) -> None:
        if self.lines and self.leave:
            self._line()
        self.lines = 0

    def _line(self) -> None:
        from tqdm import tqdm

        self.last = time.monotonic()
        elapsed = self.last - self.start
        done = f"{self.n:.{self.digits}f}"
        parts = [f"{done} {self.unit}"]
        if self.total:
            parts = [f"{done}/{self.total:.{self.digits}f} {self.unit} ({self.n / self.total:.0%})"]
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        parts.append(f"{rate:.3g} {self.unit}/s")
        parts.append(f"{tqdm.format_interval(elapsed)} elapsed")
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"about {tqdm.format_interval((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(self.postfix)
        prefix = f"{self.desc}: " if self.desc else ""
        self.write(prefix + ", ".join(parts))
        self.lines += 1


def progress_bar(enabled: bool, *, log_digits: int = 0, **options: Any) -> Any:
    """A tqdm bar on a terminal, ``LogLines`` where stderr is a file or a pipe, a disabled
    tqdm bar without ``enabled``. ``options``: tqdm's (``desc``, ``total`` and ``unit``
    also ``LogLines``')."""
    from tqdm.auto import tqdm

    if enabled and not sys.stderr.isatty():
        bar = LogLines(**{k: options[k] for k in ("desc", "total", "unit") if k in options})
        bar.digits = log_digits
        return bar
    return tqdm(disable=not enabled, dynamic_ncols=True, file=sys.stderr, **options)
