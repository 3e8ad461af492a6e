"""Ctrl-C and SIGTERM during training: stop at the next step boundary, not in the middle of one."""

from __future__ import annotations

import signal
import threading


class StopSignals:
    """While active (main thread only), SIGINT and SIGTERM ask training to stop at the next step
    boundary instead of interrupting it mid-step; a second signal interrupts at once."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self):
        self.received: int | None = None
        self.forced = False
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum
            return
        self.forced = True
        raise KeyboardInterrupt

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name)
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else "KeyboardInterrupt"
