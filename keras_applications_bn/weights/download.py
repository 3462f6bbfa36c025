"""The download engine: URL policy, HTTP with retries and resume, and ``fetch_file``.

A download streams into a hidden partial file inside the cache, hashing as it
goes; it is fsync'ed, verified and only then renamed to its final name. An
interrupted download resumes with an HTTP ``Range`` request where the server
supports it; connection errors, timeouts and HTTP 5xx/408/429 are retried with
bounded exponential backoff; 4xx answers and hash mismatches are not. Processes
that ask for the same file at once share one download through a file lock.
"""

import hashlib
import http.client
import ipaddress
import os
import queue
import random
import ssl
import stat
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from keras_applications_bn.weights import cache, settings
from keras_applications_bn.weights.cache import (
    _HDF5_SIGNATURE,
    _NOFOLLOW,
    _PARTINFO_FIELDS,
    _READ_ONLY_ERRNOS,
    _SPACE_ERRNOS,
    _CHUNK,
    _Digest,
    _FileLock,
    _cache_directory,
    _check_cached,
    _content_type_problem,
    _entry_problem,
    _expects_hdf5,
    _fsync_dir,
    _hdf5_problem,
    _hdf5_signature_offset,
    _inside_cache,
    _open_read,
    _parse_digest,
    _read_json,
    _read_only_error,
    _record,
    _record_problem,
    _remove_entry,
    _safe_fname,
    _space_error,
    _state_path,
    _update_manifest,
    _write_json_atomic,
)
from keras_applications_bn.weights.errors import WeightsError
from keras_applications_bn.weights.progress import _Progress
from keras_applications_bn.weights.registry import ORIGINS
from keras_applications_bn.weights.settings import (
    MIRROR_ENV,
    OFFLINE_ENV,
    RETRIES_ENV,
    TIMEOUT_ENV,
    _env_help,
    _progress_enabled,
)

_BACKOFF_BASE = 0.5  # seconds; doubled after every failed attempt
_BACKOFF_MAX = 8.0
_USER_AGENT = "keras-applications-bn"


# --------------------------------------------------------------------------- URLs


def _is_loopback(host):
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_scheme(url, http_host=None, what="`url`"):
    """Raise unless ``url`` is https, or http to a loopback host or ``http_host``,
    without credentials."""
    parts = urllib.parse.urlsplit(url)
    _refuse_credentials(parts, what)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return
    if scheme == "http" and parts.hostname:
        if _is_loopback(parts.hostname) or (http_host and parts.hostname == http_host):
            return
        raise ValueError(
            f"{what} must use https for a remote host, got {url!r}. Plain http is accepted "
            f"only for loopback hosts or a mirror you set in ${MIRROR_ENV}."
        )
    raise ValueError(f"{what} must be an https:// (or loopback http://) URL, got {url!r}.")


def _refuse_credentials(parts, what):
    """Credentials in a URL would be sent with every redirect, written to the cache's
    manifest and shown in error messages; refuse them (without echoing them)."""
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or "?"
        raise ValueError(
            f"{what} must not contain credentials (user:password@{host}); they would be "
            "stored in the cache's manifest and printed in messages. Use a mirror that "
            f"needs none (${MIRROR_ENV}), or download the file yourself and copy it into "
            "the cache."
        )


def _source_url(url):
    """The URL to download ``url`` from (the mirror's, when set) and the host for
    which plain http was explicitly allowed (``None`` if none)."""
    mirror = settings.mirror()
    origin = next((o for o in ORIGINS if url.startswith(o)), None)
    if mirror and origin:
        parts = urllib.parse.urlsplit(mirror)
        _refuse_credentials(parts, f"${MIRROR_ENV}")
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"${MIRROR_ENV} must be an http(s) base URL such as "
                f"'https://mirror.example.com/keras/', got {mirror!r}."
            )
        return mirror.rstrip("/") + "/" + url[len(origin):], parts.hostname
    _check_scheme(url)
    return url, None


class _RedirectPolicy(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs the scheme policy accepts (no https->http)."""

    def __init__(self, http_host):
        super().__init__()
        self.http_host = http_host

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        try:
            _check_scheme(newurl, self.http_host, what="A redirect target")
        except ValueError as e:
            raise WeightsError(f"Refusing redirect from {req.full_url}: {e}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


# --------------------------------------------------------------------------- download


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


class _Download:
    """One file's download into ``<cache>/.keras_applications_bn/files/<fname>.part``.

    The partial file and a small ``.partinfo`` (source URL, expected digest, the
    server's validators) survive an interrupted run, so that the next run resumes.
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
        self.opener = urllib.request.build_opener(_RedirectPolicy(http_host))
        self.fname = os.path.basename(target)
        self.directory = os.path.dirname(target)
        self.part = _state_path(self.directory, "files", self.fname + ".part")
        self.info_path = self.part + "info"
        self.progress = _Progress(self.fname, progress)
        self.algorithm = expected.algorithm if expected else "sha256"
        self.hasher = hashlib.new(self.algorithm)
        self.offset = 0
        self.total = None
        self.resumed = False
        self.info = {}

    # state of the partial file
    def _resume_state(self):
        info = _read_json(self.info_path)
        wanted = self.expected.hexdigest if self.expected else None
        if (
            _record_problem(info, _PARTINFO_FIELDS) is None  # damaged: start over
            and info.get("url") == self.source
            and info.get("expected") == wanted
            and self._part_is_resumable()
        ):
            self.info = info
            self.hasher = cache._hash_file(self.part, self.algorithm)
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
        if _entry_problem(st) or st.st_nlink != 1:
            return False
        if (
            self.expected is None
            and _expects_hdf5(self.fname)
            and st.st_size >= len(_HDF5_SIGNATURE)
        ):
            with _open_read(self.part) as f:
                if _hdf5_signature_offset(f, min(st.st_size, 1 << 20)) is None:
                    return False
        return True

    def _open_part(self, append):
        """The partial file, opened for writing without following a link: appended to
        (after checking it is still ours) or created afresh."""
        flags = os.O_WRONLY | _NOFOLLOW
        if append:
            flags |= os.O_APPEND
        else:
            _remove_entry(self.part)
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
        self.info = {"url": self.source, "expected": self.expected.hexdigest if self.expected else None}
        self.hasher = hashlib.new(self.algorithm)
        self.offset = 0

    def discard(self):
        for path in (self.part, self.info_path):
            _remove_entry(path)

    # one HTTP request
    def _open(self):
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            etag = self.info.get("etag")
            validator = etag if etag and not etag.startswith("W/") else self.info.get("last_modified")
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
                f"Check the URL, or your mirror. {_env_help()}"
            ) from e
        except WeightsError:  # a refused redirect: final, never retried
            self.discard()
            raise
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):
                raise WeightsError(
                    f"Could not download {self.source}: TLS certificate check failed ({e.reason}). "
                    f"{_env_help()}"
                ) from e
            raise _Retry(f"{e.reason}") from e
        except (OSError, http.client.HTTPException) as e:
            raise _Retry(f"{type(e).__name__}: {e}") from e

    def _attempt(self):
        response = self._open()
        with response:
            wrong_type = _content_type_problem(self.fname, response.headers.get("Content-Type"))
            if wrong_type:
                self.discard()
                raise WeightsError(
                    f"Could not download {self.source}: {wrong_type} (not retried, nothing "
                    f"cached). Check the URL, or your mirror. {_env_help()}"
                )
            total = None
            if self.offset and response.status == 206:
                parsed = _content_range_start(response.headers.get("Content-Range", ""))
                if parsed is None or parsed[0] != self.offset:
                    self._restart()
                    raise _Retry("the server answered with an unexpected range")
                total = parsed[1]
                mode = "ab"
            else:
                if self.offset:  # the server ignored Range (or the file changed): start over
                    self._restart()
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                self.info.update(
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
                _write_json_atomic(self.info_path, self.info)
                mode = "wb"
            if self.size is not None and total is not None and total != self.size:
                self.discard()
                raise WeightsError(
                    f"{self.source} is {total} bytes, but the registry expects {self.size}. "
                    "The download was not started; check that your mirror serves the official file."
                )
            self.total = total
            free = cache._free_bytes(self.directory)
            if total is not None and free is not None and total - self.offset > free:
                self.discard()
                raise _space_error(self.directory, self.fname, total - self.offset)
            self.progress.begin(self.offset, total)
            overflow = False
            with self._open_part(append=mode == "ab") as out:
                sink = _Sink(out, self.hasher)
                try:
                    while True:
                        try:
                            chunk = response.read1(_CHUNK)
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
            if overflow:
                self._restart()
                raise _Retry(f"the server sent more than the announced {total} bytes")
            if total is not None and self.offset < total:
                raise _Retry(f"connection closed after {self.offset} of {total} bytes")
            self.progress.finish()

    def run(self):
        """Download, verify and move into place; return the digest of the file."""
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
            _fsync_dir(self.directory)
            _remove_entry(self.info_path)
        except OSError as e:
            if isinstance(e, WeightsError):
                raise
            if e.errno in _SPACE_ERRNOS:
                needed = None if self.total is None else max(self.total - self.offset, 0)
                self.discard()
                raise _space_error(self.directory, self.fname, needed, e) from None
            if e.errno in _READ_ONLY_ERRNOS:
                raise _read_only_error(self.directory, self.fname, e) from None
            raise
        return _Digest(self.algorithm, self.hasher.hexdigest())

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
                        f"{RETRIES_ENV}, or: {_env_help()}"
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
        problem = _hdf5_problem(self.part) if _expects_hdf5(self.fname) else None
        if problem is None:
            return None
        return (
            f"The file downloaded from {self.source} {problem}, so it is not a weights "
            f"file. It was discarded; nothing was written to {self.target}. Check the URL "
            f"or your mirror (it may serve an error page, or cut the file short)."
        )


def fetch_file(
    url, file_hash=None, cache_dir=None, fname=None, *, timeout=None, retries=None, progress=None
):
    """Return the local path of ``url``, downloading it into the cache if needed.

    Args:
        url: where the file lives (https; plain http only for loopback hosts). URLs
            under one of :data:`ORIGINS` are redirected to ``$KERAS_APPLICATIONS_BN_MIRROR``
            when that is set.
        file_hash: the expected md5 or sha256 hex digest. With ``None``, the sha256
            of the first complete download is recorded and enforced from then on
            (trust on first use).
        cache_dir: directory to cache into; defaults to :func:`default_cache_dir`.
        fname: file name in the cache; defaults to the last part of the URL path.
            It can never point outside ``cache_dir``.
        timeout: seconds to wait for the server to connect or send more bytes,
            a finite number > 0 and at most 86400 (one day); NumPy scalars are
            accepted (default ``$KERAS_APPLICATIONS_BN_TIMEOUT`` or 60).
        retries: how often a failed attempt (connection error, timeout, HTTP 5xx,
            truncated body) is retried with backoff, an int >= 0 (default
            ``$KERAS_APPLICATIONS_BN_RETRIES`` or 4). HTTP 4xx answers and hash
            mismatches are never retried.
        progress: ``True``/``False`` to show or hide the progress bar on stderr;
            ``None`` shows it when stderr is a terminal and
            ``$KERAS_APPLICATIONS_BN_QUIET`` is not on.

    Returns:
        The path of a complete, verified file.

    Raises:
        WeightsError: the file is not cached and cannot be downloaded (offline,
            network error, HTTP error, hash mismatch).
        TypeError: an argument of the wrong type.
        ValueError: a malformed argument or environment variable (named in the
            message): ``timeout=nan``, ``$KERAS_APPLICATIONS_BN_TIMEOUT=inf``,
            ``$KERAS_APPLICATIONS_BN_OFFLINE=enabled``, ...
    """
    return _fetch(url, file_hash, cache_dir, fname, timeout, retries, progress, None)


def _fetch(url, file_hash, cache_dir, fname, timeout, retries, progress, entry):
    if not isinstance(url, str) or not url:
        raise TypeError(f"`url` must be a non-empty string, got {url!r}.")
    pinned = _parse_digest(file_hash)
    fname = _safe_fname(fname, url)
    timeout = settings.timeout(timeout)
    retries = settings.retries(retries)
    show = _progress_enabled(progress)
    settings.offline()  # a bad value is refused at once, not only when a download is needed
    source, http_host = _source_url(url)
    directory = _cache_directory(cache_dir)
    target = os.path.join(directory, fname)
    name = entry.name if entry else None

    first = _check_cached(directory, fname, pinned, name=name)
    if first.status == "ok":
        return _inside_cache(directory, target)

    def waiting():
        if show:
            sys.stderr.write(f"Waiting for another process to finish downloading {fname} ...\n")

    try:
        lock = _FileLock(_state_path(directory, "files", fname + ".lock"), on_wait=waiting)
        lock.__enter__()
    except OSError as e:
        if isinstance(e, WeightsError) or e.errno not in _READ_ONLY_ERRNOS:
            raise
        # A read-only cache: it can serve what it holds, but not take a download.
        if settings.offline() and first.status == "missing":
            raise _offline_error(fname, "is not in the cache", target, url) from None
        raise _read_only_error(directory, fname, e) from None
    try:
        return _fetch_locked(
            url, source, http_host, directory, fname, pinned, entry, timeout, retries, show
        )
    finally:
        lock.__exit__(None, None, None)


def _offline_error(fname, state, target, url):
    return WeightsError(
        f"{fname} {state} and {OFFLINE_ENV} is set, so it will not be downloaded. "
        f"Expected at {target}. Fetch it on a machine with network access "
        f"(`python -m keras_applications_bn fetch ...` or a download of {url}) "
        f"and copy it there, or unset {OFFLINE_ENV}. {_env_help()}"
    )


def _fetch_locked(url, source, http_host, directory, fname, pinned, entry, timeout, retries, show):
    """The part of a fetch that holds the file's lock: check again, download, record."""
    target = os.path.join(directory, fname)
    name = entry.name if entry else None
    check = _check_cached(directory, fname, pinned, name=name)
    if check.status == "ok":
        return _inside_cache(directory, target)
    if check.status == "corrupt":
        try:
            _remove_entry(target)  # never leave a file that fails its check (a link: itself)
            if check.trust == "first-use" and check.expected is None:
                # A first-use record of something that is not a weights file: drop
                # it, so that the download from a fixed mirror is trusted again.
                _update_manifest(directory, fname, None)
        except OSError as e:
            if isinstance(e, WeightsError) or e.errno not in _READ_ONLY_ERRNOS:
                raise
            raise _read_only_error(directory, fname, e) from None
    if settings.offline():
        state = "was corrupt (removed)" if check.status == "corrupt" else "is not in the cache"
        if check.reason:
            state = f"was not trusted (it {check.reason}; removed)"
        raise _offline_error(fname, state, target, url)
    expected = pinned
    if expected is None and check.expected is not None:
        expected = _Digest(check.algorithm, check.expected)
    download = _Download(
        source,
        target,
        expected,
        http_host=http_host,
        timeout=timeout,
        retries=retries,
        progress=show,
        size=entry.size if entry else None,
        hint=""
        if pinned is not None or expected is None
        else (
            " This file has no pinned hash; its digest was recorded at its first "
            "download. If the publisher really changed it, run "
            f"`python -m keras_applications_bn forget {name or fname}` and fetch again."
        ),
    )
    digest = download.run()
    trust = "pinned" if pinned else (check.trust or "first-use")
    _update_manifest(directory, fname, _record(target, digest, trust, url))
    return _inside_cache(directory, target)
