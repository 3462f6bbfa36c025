"""The HTTP engine: one file's download with retries and resume.

A download streams into a hidden partial file inside the cache, hashing as it
goes; it is fsync'ed, verified and only then renamed to its final name. An
interrupted download resumes with an HTTP ``Range`` request where the server
supports it; connection errors, timeouts and HTTP 5xx/408/429 are retried with
bounded exponential backoff; 4xx answers and hash mismatches are not. (Which URL
may be used: ``urls``; the lock that one
download holds: ``download``.)

A little over the package's ~400-line guide: one class, the download engine,
whose steps (open, resume, stream, verify) read best together.
"""

import hashlib
import http.client
import os
import queue
import random
import ssl
import stat
import threading
import time
import urllib.error
import urllib.request

from keras_applications_bn.weights import cache, integrity, safety, settings
from keras_applications_bn.weights import progress as progress_bar
from keras_applications_bn.weights.errors import WeightsError
from keras_applications_bn.weights.settings import RETRIES_ENV, TIMEOUT_ENV
from keras_applications_bn.weights.urls import RedirectPolicy

_BACKOFF_BASE = 0.5  # seconds; doubled after every failed attempt
_BACKOFF_MAX = 8.0
_USER_AGENT = "keras-applications-bn"


class _Retry(Exception):
    """A failed attempt worth retrying (network trouble, 5xx, truncated body)."""


def _backoff(attempt):
    delay = min(_BACKOFF_BASE * 2 ** (attempt - 1), _BACKOFF_MAX)
    return delay * random.uniform(0.8, 1.2)


def _content_range_start(value):
    """``(start, total)`` from ``bytes start-end/total`` (``total`` may be None)."""
    try:
        unit, _, rest = value.strip().partition(" ")
        span, _, total = rest.partition("/")
        start = int(span.split("-")[0])
        return (start, None if total.strip() == "*" else int(total)) if unit == "bytes" else None
    except (AttributeError, ValueError):
        return None


class _Sink:
    """Writes and hashes chunks on a worker thread, so that disk writes and hashing
    (both release the GIL) overlap with reading the network."""

    def __init__(self, out, hasher):
        self.out = out
        self.hasher = hasher
        self.error = None
        self.queue = queue.Queue(maxsize=16)
        self.thread = threading.Thread(target=self._run, name="weights-sink", daemon=True)
        self.thread.start()

    def _run(self):
        while (chunk := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.out.write(chunk)
                    self.hasher.update(chunk)
                except BaseException as e:  # reported to the reading thread
                    self.error = e

    def put(self, chunk):
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)

    def close(self):
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


class Download:
    """One file's download into ``<cache>/.keras_applications_bn/files/<fname>.part``.

    The partial file and a small ``.partinfo`` (source URL, expected digest, the
    server's validators) survive an interrupted run, so that the next run resumes.

    Args:
        source: the URL to download.
        target: the file's final path in the cache.
        expected: the ``Digest`` it
            must have, or None (trust on first use: it must be a complete HDF5 file).
        http_host: the host plain http is allowed to (the mirror's), or None.
        timeout: seconds to wait for the server.
        retries: how often a failed attempt is retried.
        progress: whether to show the progress bar.
        size: the size the registry expects, or None.
        hint: a sentence added to a hash mismatch's error.
    """

    def __init__(
        self, source, target, expected, *, http_host, timeout, retries, progress, size, hint=""
    ):
        self.source = source
        self.hint = hint
        self.target = target
        self.expected = expected
        self.timeout = timeout
        self.retries = retries
        self.size = size
        self.opener = urllib.request.build_opener(RedirectPolicy(http_host))
        self.fname = os.path.basename(target)
        self.directory = os.path.dirname(target)
        self.part = cache.state_path(self.directory, "files", self.fname + ".part")
        self.info_path = self.part + "info"
        self.progress = progress_bar.Progress(self.fname, progress)
        self.algorithm = expected.algorithm if expected else "sha256"
        self.hasher = hashlib.new(self.algorithm)
        self.offset = 0
        self.total = None
        self.resumed = False
        self.info = {}

    # state of the partial file
    def _resume_state(self):
        info = safety.read_json(self.info_path)
        wanted = self.expected.hexdigest if self.expected else None
        if (
            safety.partinfo_problem(info) is None  # damaged: start over
            and info.get("url") == self.source
            and info.get("expected") == wanted
            and self._part_is_resumable()
        ):
            self.info = info
            self.hasher = integrity.hash_file(self.part, self.algorithm)
            self.offset = os.lstat(self.part).st_size
            self.resumed = self.offset > 0
        else:
            self._restart()

    def _part_is_resumable(self):
        """Whether the partial file is ours to append to: a regular file with no other
        name (not a link planted in the cache, not a hard link to a file elsewhere),
        and, for an HDF5 file without a known digest, one that starts like one (with a
        digest, a bad partial file fails the hash and the download starts over)."""
        try:
            st = os.lstat(self.part)
        except FileNotFoundError:
            return False
        if safety.entry_problem(st) or st.st_nlink != 1:
            return False
        if (
            self.expected is None
            and integrity.expects_hdf5(self.fname)
            and st.st_size >= len(integrity.HDF5_SIGNATURE)
        ):
            with safety.open_read(self.part) as f:
                if integrity.hdf5_signature_offset(f, min(st.st_size, 1 << 20)) is None:
                    return False
        return True

    def _open_part(self, append):
        """The partial file, opened for writing without following a link: appended to
        (after checking it is still ours) or created afresh."""
        flags = os.O_WRONLY | safety.NOFOLLOW
        if append:
            flags |= os.O_APPEND
        else:
            safety.remove_entry(self.part)
            flags |= os.O_CREAT | os.O_EXCL
        fd = os.open(self.part, flags, 0o644)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            raise WeightsError(
                f"{self.part} changed under the download (it is now a link or has other "
                "names); someone else writes to this cache's bookkeeping. Not continued."
            )
        return os.fdopen(fd, "ab" if append else "wb")

    def _restart(self):
        self.discard()
        self.info = {
            "url": self.source,
            "expected": self.expected.hexdigest if self.expected else None,
        }
        self.hasher = hashlib.new(self.algorithm)
        self.offset = 0

    def discard(self):
        """Remove the partial file and its ``.partinfo``."""
        for path in (self.part, self.info_path):
            safety.remove_entry(path)

    # one HTTP request
    def _open(self):
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            etag = self.info.get("etag")
            validator = (
                etag if etag and not etag.startswith("W/") else self.info.get("last_modified")
            )
            if validator:
                headers["If-Range"] = validator
        request = urllib.request.Request(self.source, headers=headers)
        try:
            return self.opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 416 and self.offset:
                self._restart()  # our partial is not a prefix of what the server has
                return self._open()
            if e.code >= 500 or e.code in (408, 429):
                raise _Retry(f"HTTP {e.code} {e.reason}") from e
            self.discard()
            raise WeightsError(
                f"Could not download {self.source}: HTTP {e.code} {e.reason} (not retried). "
                f"Check the URL, or your mirror. {settings.env_help()}"
            ) from e
        except WeightsError:  # a refused redirect: final, never retried
            self.discard()
            raise
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):
                raise WeightsError(
                    f"Could not download {self.source}: TLS certificate check failed ({e.reason}). "
                    f"{settings.env_help()}"
                ) from e
            raise _Retry(f"{e.reason}") from e
        except (OSError, http.client.HTTPException) as e:
            raise _Retry(f"{type(e).__name__}: {e}") from e

    def _accept(self, response):
        """Check the response's headers before any byte is written.

        Returns ``(total, append)``: the file's size when the server says it, and
        whether the body continues the partial file (a ``206`` to our ``Range``).
        """
        wrong_type = integrity.content_type_problem(
            self.fname, response.headers.get("Content-Type")
        )
        if wrong_type:
            self.discard()
            raise WeightsError(
                f"Could not download {self.source}: {wrong_type} (not retried, nothing "
                f"cached). Check the URL, or your mirror. {settings.env_help()}"
            )
        total = None
        if self.offset and response.status == 206:
            parsed = _content_range_start(response.headers.get("Content-Range", ""))
            if parsed is None or parsed[0] != self.offset:
                self._restart()
                raise _Retry("the server answered with an unexpected range")
            total = parsed[1]
            append = True
        else:
            if self.offset:  # the server ignored Range (or the file changed): start over
                self._restart()
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            self.info.update(
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
            safety.write_json_atomic(self.info_path, self.info)
            append = False
        if self.size is not None and total is not None and total != self.size:
            self.discard()
            raise WeightsError(
                f"{self.source} is {total} bytes, but the registry expects {self.size}. "
                "The download was not started; check that your mirror serves the official file."
            )
        self.total = total
        free = safety.free_bytes(self.directory)
        if total is not None and free is not None and total - self.offset > free:
            self.discard()
            raise safety.space_error(self.directory, self.fname, total - self.offset)
        return total, append

    def _stream(self, response, total, append):
        """Write and hash the body into the partial file; return whether the server
        sent more than ``total`` bytes (the download then stops)."""
        overflow = False
        with self._open_part(append=append) as out:
            sink = _Sink(out, self.hasher)
            try:
                while True:
                    try:
                        chunk = response.read1(safety.CHUNK)
                    except (OSError, http.client.HTTPException) as e:
                        raise _Retry(f"{type(e).__name__} after {self.offset} bytes: {e}") from e
                    if not chunk:
                        break
                    sink.put(chunk)
                    self.offset += len(chunk)
                    self.progress.update(len(chunk))
                    if total is not None and self.offset > total:
                        overflow = True
                        break
            finally:
                sink.close()  # every queued chunk is written and hashed
            out.flush()
            os.fsync(out.fileno())
        return overflow

    def _attempt(self):
        response = self._open()
        with response:
            total, append = self._accept(response)
            self.progress.begin(self.offset, total)
            if self._stream(response, total, append):
                self._restart()
                raise _Retry(f"the server sent more than the announced {total} bytes")
            if total is not None and self.offset < total:
                raise _Retry(f"connection closed after {self.offset} of {total} bytes")
            self.progress.finish()

    def run(self):
        """Download, verify and move into place.

        Returns:
            The ``Digest`` of the file.

        Raises:
            WeightsError: the download failed (after its retries), or the file
                failed its check, or the disk is full or read-only.
        """
        self._resume_state()
        try:
            while True:
                self._download()
                problem = self._verify()
                if problem is None:
                    break
                if self.resumed:
                    # Maybe the partial file we resumed onto was not a prefix of this
                    # file (planted, or left by another version): once more, from scratch.
                    self._restart()
                    self.resumed = False
                    continue
                self.discard()
                raise WeightsError(problem)
            os.replace(self.part, self.target)
            safety.fsync_dir(self.directory)
            safety.remove_entry(self.info_path)
        except OSError as e:
            if isinstance(e, WeightsError):
                raise
            if e.errno in safety.SPACE_ERRNOS:
                needed = None if self.total is None else max(self.total - self.offset, 0)
                self.discard()
                raise safety.space_error(self.directory, self.fname, needed, e) from None
            if e.errno in safety.READ_ONLY_ERRNOS:
                raise safety.read_only_error(self.directory, self.fname, e) from None
            raise
        return integrity.Digest(self.algorithm, self.hasher.hexdigest())

    def _download(self):
        attempt = 0
        while True:
            try:
                self._attempt()
                return
            except _Retry as e:
                attempt += 1
                if attempt > self.retries:
                    raise WeightsError(
                        f"Could not download {self.source} after {attempt} attempt(s): {e}. "
                        f"The {self.offset} bytes received so far are kept and the next try "
                        f"resumes from there. Check your network, raise {TIMEOUT_ENV} / "
                        f"{RETRIES_ENV}, or: {settings.env_help()}"
                    ) from e
                time.sleep(_backoff(attempt))

    def _verify(self):
        """Why the complete partial file must not be cached, or None."""
        actual = self.hasher.hexdigest()
        if self.expected is not None:
            if actual == self.expected.hexdigest:
                return None
            return (
                f"Hash mismatch for {self.source}: expected {self.algorithm} "
                f"{self.expected.hexdigest}, got {actual}. The download was discarded; "
                f"nothing was written to {self.target}. Retry later; if it persists, your "
                f"network or mirror serves a different file (a mirror must serve the "
                f"official bytes).{self.hint}"
            )
        # Trust on first use: only a complete HDF5 file is trusted.
        problem = integrity.hdf5_problem(self.part) if integrity.expects_hdf5(self.fname) else None
        if problem is None:
            return None
        return (
            f"The file downloaded from {self.source} {problem}, so it is not a weights "
            f"file. It was discarded; nothing was written to {self.target}. Check the URL "
            f"or your mirror (it may serve an error page, or cut the file short)."
        )
