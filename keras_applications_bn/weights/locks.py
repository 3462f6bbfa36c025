"""An exclusive lock between processes (and threads) on a file of the cache's
bookkeeping: ``flock`` on POSIX, ``msvcrt.locking`` on Windows. It is released
when its holder leaves the ``with`` block or dies, and its file is never opened
through a symbolic link."""

import errno
import os
import time

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

from keras_applications_bn.weights import safety
from keras_applications_bn.weights.errors import WeightsError


class FileLock:
    """An exclusive lock on ``path`` between processes (and threads), released on exit
    or when the holder dies.

    Args:
        path: the lock file (created if missing; never through a link).
        on_wait: called once if the lock is busy, before waiting for it.
    """

    def __init__(self, path, on_wait=None):
        self.path = path
        self.on_wait = on_wait
        self.fd = None

    def _try(self):
        try:
            if fcntl is not None:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                msvcrt.locking(self.fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | safety.NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise WeightsError(
                    f"The lock file {self.path} is a symbolic link; the cache never follows "
                    "links in its bookkeeping. Remove it and retry."
                ) from None
            raise
        try:
            if not self._try():
                if self.on_wait is not None:
                    self.on_wait()
                if fcntl is not None:
                    fcntl.flock(self.fd, fcntl.LOCK_EX)
                else:  # pragma: no cover - Windows
                    while not self._try():
                        time.sleep(0.1)
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc):
        try:
            if fcntl is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            else:  # pragma: no cover - Windows
                msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.close(self.fd)
