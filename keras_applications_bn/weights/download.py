"""``fetch_file`` and the locked fetch flow: check the cache, else download once.

A fetch checks its arguments and the environment first, then the cached file;
only when that fails does it take the file's lock (processes that ask for the
same file at once share one download), check again, remove what failed its
check, and download (``Download``).
"""

import os
import sys

from keras_applications_bn.weights import cache, integrity, safety, settings, urls
from keras_applications_bn.weights.errors import WeightsError
from keras_applications_bn.weights.http import Download
from keras_applications_bn.weights.settings import OFFLINE_ENV


def fetch_file(
    url, file_hash=None, cache_dir=None, fname=None, *, timeout=None, retries=None, progress=None
):
    """Return the local path of ``url``, downloading it into the cache if needed.

    Args:
        url: where the file lives (https; plain http only for loopback hosts). URLs
            under one of the official origins (``ORIGINS``) are redirected to
            ``$KERAS_APPLICATIONS_BN_MIRROR`` when that is set.
        file_hash: the expected md5 or sha256 hex digest. With ``None``, the sha256
            of the first complete download is recorded and enforced from then on
            (trust on first use).
        cache_dir: directory to cache into; defaults to ``default_cache_dir()``.
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


def fetch_entry(entry, *, cache_dir=None, timeout=None, retries=None, progress=None):
    """``fetch_file`` for a registry entry: its URL, hash and file name, and its
    size and name in messages (how ``fetch(name)`` downloads).

    Args:
        entry: a ``WeightFile`` of the registry.
        cache_dir: as for ``fetch_file``.
        timeout: as for ``fetch_file``.
        retries: as for ``fetch_file``.
        progress: as for ``fetch_file``.

    Returns:
        The path of the complete, verified file.
    """
    return _fetch(
        entry.url, entry.file_hash, cache_dir, entry.fname, timeout, retries, progress, entry
    )


def _fetch(url, file_hash, cache_dir, fname, timeout, retries, progress, entry):
    if not isinstance(url, str) or not url:
        raise TypeError(f"`url` must be a non-empty string, got {url!r}.")
    pinned = integrity.parse_digest(file_hash)
    fname = cache.safe_fname(fname, url)
    timeout = settings.timeout(timeout)
    retries = settings.retries(retries)
    show = settings.progress_enabled(progress)
    settings.offline()  # a bad value is refused at once, not only when a download is needed
    source, http_host = urls.source_url(url)
    directory = cache.cache_directory(cache_dir)
    target = os.path.join(directory, fname)
    name = entry.name if entry else None

    first = integrity.check_cached(directory, fname, pinned, name=name)
    if first.status == "ok":
        return safety.inside_cache(directory, target)

    def waiting():
        if show:
            sys.stderr.write(f"Waiting for another process to finish downloading {fname} ...\n")

    try:
        lock = cache.file_lock(directory, fname, on_wait=waiting)
        lock.__enter__()
    except OSError as e:
        if not safety.is_read_only(e):
            raise
        # A read-only cache: it can serve what it holds, but not take a download.
        if settings.offline() and first.status == "missing":
            raise _offline_error(fname, "is not in the cache", target, url) from None
        raise safety.read_only_error(directory, fname, e) from None
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
        f"and copy it there, or unset {OFFLINE_ENV}. {settings.env_help()}"
    )


def _drop(directory, fname, check):
    """Remove the cached file that failed ``check`` (a link: itself, never its target)."""
    try:
        safety.remove_entry(os.path.join(directory, fname))
        if check.trust == "first-use" and check.expected is None:
            # A first-use record of something that is not a weights file: drop
            # it, so that the download from a fixed mirror is trusted again.
            cache.update_manifest(directory, fname, None)
    except OSError as e:
        if not safety.is_read_only(e):
            raise
        raise safety.read_only_error(directory, fname, e) from None


def _fetch_locked(url, source, http_host, directory, fname, pinned, entry, timeout, retries, show):
    """The part of a fetch that holds the file's lock: check again, download, record."""
    target = os.path.join(directory, fname)
    name = entry.name if entry else None
    check = integrity.check_cached(directory, fname, pinned, name=name)
    if check.status == "ok":
        return safety.inside_cache(directory, target)
    if check.status == "corrupt":
        _drop(directory, fname, check)  # never leave a file that fails its check
    if settings.offline():
        state = "was corrupt (removed)" if check.status == "corrupt" else "is not in the cache"
        if check.reason:
            state = f"was not trusted (it {check.reason}; removed)"
        raise _offline_error(fname, state, target, url)
    expected = pinned
    if expected is None and check.expected is not None:
        expected = integrity.Digest(check.algorithm, check.expected)
    download = Download(
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
    cache.update_manifest(directory, fname, cache.new_record(target, digest, trust, url))
    return safety.inside_cache(directory, target)
