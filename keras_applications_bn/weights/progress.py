"""The one-line download progress bar (on stderr) and byte counts in words."""

import sys
import time


def format_bytes(n):
    """``n`` bytes in words: ``"512 B"``, ``"161.4 KB"``, ``"1.2 GB"`` (powers of 1000).

    Args:
        n: a number of bytes.

    Returns:
        A string.
    """
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class Progress:
    """A one-line progress bar on ``stream`` (a no-op when disabled).

    Args:
        label: what is downloaded (the file name).
        enabled: whether to draw anything.
        stream: where to draw; ``None`` for ``sys.stderr``.
    """

    def __init__(self, label, enabled, stream=None):
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.total = None
        self.done = 0
        self.start_done = 0
        self.start = time.monotonic()
        self.last = 0.0

    def begin(self, done, total):
        """Start (or restart) counting at ``done`` of ``total`` bytes (None: unknown)."""
        self.done = self.start_done = done
        self.total = total
        self.start = time.monotonic()
        self.show(force=True)

    def update(self, n):
        """Count ``n`` more bytes."""
        self.done += n
        self.show()

    def show(self, force=False, end=""):
        """Redraw the bar (at most every 0.1 s unless ``force``), ending with ``end``."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        rate = (self.done - self.start_done) / max(now - self.start, 1e-6)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 20)
            amount = f"[{bar:<20}] {format_bytes(self.done)}/{format_bytes(self.total)}"
        else:
            amount = format_bytes(self.done)
        self.stream.write(f"\r{self.label}: {amount} {format_bytes(rate)}/s{end}")
        self.stream.flush()

    def finish(self):
        """Draw the final state and end the line."""
        self.show(force=True, end="\n")
