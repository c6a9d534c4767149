"""Two-stage graceful stop shared by training and studies (docs/design.md, "Stopping").

The first Ctrl-C or SIGTERM sets a flag the loop polls (finish the unit of work, save, stop);
the second raises KeyboardInterrupt to stop at once. Handlers are installed only in the main
thread and restored on exit.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """`requested` turns true on the first signal; a second signal raises KeyboardInterrupt."""

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self.requested = False
        self._on_first = on_first

    def _handler(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self._on_first is not None:
            self._on_first()

    @contextlib.contextmanager
    def installed(self) -> Iterator[GracefulStop]:
        """Install the handlers for the duration of the block (no-op outside the main thread)."""
        old = {}
        for sig in _SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                old[sig] = signal.signal(sig, self._handler)
        try:
            yield self
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
