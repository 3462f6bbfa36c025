"""The one registry of official ImageNet weight files, and the one downloader.

Every file that ``weights="imagenet"`` may load is listed in `REGISTRY`,
keyed by a short name (``"resnet50"``, ``"resnet50_notop"``, ...), with the URL
Keras downloads it from and the hash Keras pins for it. `fetch_file`
downloads into the Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``,
the same file names as Keras, so an existing Keras cache is reused).

What a download guarantees:

* **Integrity.** The hash is computed while the bytes stream (no second read). A
  file without a pinned hash (Keras pins none for MobileNet) is trusted on first
  use, and only once it is a complete HDF5 file (signature, end-of-file address,
  h5py opens it): the sha256 of its first complete download is recorded and
  enforced from then on. An ``.h5`` served as ``text/html`` or ``text/plain`` is
  refused. A cached file is hashed once; afterwards its size and mtime are
  remembered, so a warm load does not re-hash it.
* **A shared cache is hostile ground.** Nothing inside the cache is followed
  through a symbolic link (``O_NOFOLLOW``, ``lstat``); a symlinked entry is never
  trusted, a partial file with other hard links is never appended to, and no
  returned path resolves outside the cache.
* **Read-only and full caches.** A read-only cache serves its verified files (no
  lock or manifest write is needed to read) and ``verify`` works on it; a full
  disk is an error that names the directory and the space needed, and removes
  the partial file.
* **Atomicity.** Bytes go to a hidden partial file inside the cache directory,
  are fsync'ed, verified, and only then renamed to their final name: at any
  moment the cache holds either no file or a complete, verified one.
* **Resume.** An interrupted download (dropped connection, timeout, killed
  process, Ctrl-C) continues with an HTTP ``Range`` request where the server
  supports it, and starts over where it does not.
* **Concurrency.** Processes that ask for the same file at once share one
  download: the others wait on a file lock and use its result.
* **Retries.** Connection errors, timeouts and HTTP 5xx/408/429 are retried with
  exponential backoff (bounded); 4xx answers and hash mismatches are not.

Bookkeeping lives in a hidden ``.keras_applications_bn`` directory inside the
cache directory: ``manifest.json`` (one small record per verified file), lock
files and partial downloads. Keras never looks there.

Environment variables:

``KERAS_APPLICATIONS_BN_MIRROR``
    A base URL that replaces the official origins ``https://storage.googleapis.com/``
    (Keras' files) and ``https://github.com/`` (the ResNeXt files of
    keras_applications 1.0.8) for registry files; the relative paths stay the same,
    and hashes are still enforced. Plain ``http://`` is accepted here because you chose it.
``KERAS_APPLICATIONS_BN_OFFLINE``
    ``1``, ``true``, ``yes`` or ``on``: never touch the network. A file missing
    from the cache is an error that says how to get it there.
``KERAS_APPLICATIONS_BN_TIMEOUT``
    Seconds to wait for the server to connect or send more bytes, a finite
    number > 0 and at most 86400 (default 60).
``KERAS_APPLICATIONS_BN_RETRIES``
    How many times a failed attempt is retried, an int >= 0 (default 4).
``KERAS_APPLICATIONS_BN_QUIET``
    ``1``, ``true``, ``yes`` or ``on``: no progress bar (it is shown only when
    stderr is a terminal anyway).

A boolean variable is off when unset, empty, ``0``, ``false``, ``no`` or ``off``
(case-insensitive); any other value is a ``ValueError`` that names the variable,
rather than being silently read as on or off. A malformed number is a
``ValueError`` too.

The package, one concern per module:

* ``registry``: the table of official files (``REGISTRY``) and how to look one
  up (``get``, ``lookup``, ``resolve_names``).
* ``settings``: every environment variable above (and ``KERAS_HOME``), read in
  one place.
* ``cache``: the cache's layout, file names and manifest (``default_cache_dir``);
  ``locks``: the lock between processes; ``safety``: file operations safe in a
  shared cache, and the checks of what is read back.
* ``integrity``: digests, hashing, the HDF5 and content checks, and the check of
  a cached file (``CacheCheck``).
* ``urls``: which URLs a download may use; ``http``: the HTTP engine (retries,
  resume); ``download``: the locked fetch flow (``fetch_file``).
* ``progress``, ``loading``: the progress bar, and the checks and messages of
  ``load_weights``.
* ``cli``: the weight commands of ``python -m keras_applications_bn``.
* this module: the public API by registry name (``fetch``, ``cached_path``,
  ``verify``, ``forget``, ``load_weights``).

Every public name is importable from ``keras_applications_bn.weights``; the
modules share only names without a leading underscore. To replace an internal in
a test, patch it in the module that defines it (e.g.
``weights.http._BACKOFF_BASE``, ``weights.integrity.hash_file``,
``weights.safety.free_bytes``, ``weights.progress.Progress``); ``fetch`` and
``load_weights`` are looked up here, so patching them here works.
"""

import os
import warnings

from keras_applications_bn.weights import cache, download, integrity, loading, safety
from keras_applications_bn.weights.cache import STATE_DIR, default_cache_dir
from keras_applications_bn.weights.download import fetch_file
from keras_applications_bn.weights.errors import ManifestWarning, WeightsError
from keras_applications_bn.weights.integrity import CacheCheck
from keras_applications_bn.weights.registry import (
    GITHUB_ORIGIN,
    ORIGIN,
    ORIGINS,
    REGISTRY,
    WeightFile,
    get,
    lookup,
    resolve_names,
)
from keras_applications_bn.weights.settings import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    MIRROR_ENV,
    OFFLINE_ENV,
    QUIET_ENV,
    RETRIES_ENV,
    TIMEOUT_ENV,
)

__all__ = [
    # the registry
    "GITHUB_ORIGIN",
    "ORIGIN",
    "ORIGINS",
    "REGISTRY",
    "WeightFile",
    "get",
    "lookup",
    "resolve_names",
    # the cache and downloads
    "STATE_DIR",
    "CacheCheck",
    "cached_path",
    "default_cache_dir",
    "fetch",
    "fetch_file",
    "forget",
    "load_weights",
    "verify",
    # the environment
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "MIRROR_ENV",
    "OFFLINE_ENV",
    "QUIET_ENV",
    "RETRIES_ENV",
    "TIMEOUT_ENV",
    # errors
    "ManifestWarning",
    "WeightsError",
]


def fetch(name, *, cache_dir=None, timeout=None, retries=None, progress=None):
    """Download (or find in the cache) a registry file.

    Args:
        name: the registry name, e.g. ``"resnet50_notop"``.
        cache_dir: as for `fetch_file`.
        timeout: as for `fetch_file`.
        retries: as for `fetch_file`.
        progress: as for `fetch_file`.

    Returns:
        The path of the complete, verified file.

    Raises:
        ValueError: ``name`` is not a registry name.
        WeightsError: the file is not cached and cannot be downloaded (see
            `fetch_file`).
    """
    return download.fetch_entry(
        get(name), cache_dir=cache_dir, timeout=timeout, retries=retries, progress=progress
    )


def cached_path(name, *, cache_dir=None):
    """Where a registry file lives in the cache, whether or not it is there.

    Args:
        name: the registry name.
        cache_dir: the cache directory; defaults to `default_cache_dir`.

    Returns:
        The path of the file in the cache.
    """
    return os.path.join(cache.cache_directory(cache_dir), get(name).fname)


def verify(names=None, *, cache_dir=None):
    """Re-hash cached files.

    Files that pass are recorded (files without a pinned hash are trusted from
    their first check on); corrupt files are reported, left in place, and
    replaced by the next ``fetch``. Damaged manifest records (a name that is not
    a plain file name inside the cache, such as ``"/etc/hostname"`` or
    ``"../x.h5"``, or missing or wrongly typed fields) are never followed: they
    are reported in one `ManifestWarning` and ignored, and the manifest is
    written without them when it is next written. Every returned path lies in
    the cache directory.

    Args:
        names: ``None`` checks every registry file and every other file the
            manifest knows (files fetched by URL); otherwise the registry files
            matching ``names`` (see `resolve_names`).
        cache_dir: the cache directory; defaults to `default_cache_dir`.

    Returns:
        One `CacheCheck` per file.

    Raises:
        ValueError: a pattern of ``names`` matches no registry file.
    """
    directory = cache.cache_directory(cache_dir)
    selected = REGISTRY.keys() if names is None else resolve_names(names)
    recorded, problems = cache.read_manifest(directory)  # before the checks rewrite it
    if problems:
        manifest = os.path.join(directory, STATE_DIR, "manifest.json")
        warnings.warn(
            ManifestWarning(
                f"The cache manifest {manifest} has damaged records, ignored (the next "
                f"write of the manifest drops them): {'; '.join(problems)}."
            ),
            stacklevel=2,
        )
    results = []
    seen = set()
    for name in selected:
        entry = REGISTRY[name]
        results.append(
            integrity.check_cached(
                directory,
                entry.fname,
                integrity.parse_digest(entry.file_hash),
                force=True,
                name=name,
            )
        )
        seen.add(entry.fname)
    if names is None:
        for fname in sorted(set(recorded) - seen):
            results.append(integrity.check_cached(directory, fname, None, force=True))
    return results


def forget(name, *, cache_dir=None):
    """Drop the record of a cached file and delete the file.

    Use it when a file without a pinned hash legitimately changed upstream: the
    next fetch downloads it again and trusts that download.

    Args:
        name: a registry name, or the name of a file in the cache.
        cache_dir: the cache directory; defaults to `default_cache_dir`.

    Returns:
        ``True`` when there was something to drop; ``False`` for a registry file
        that is not cached.

    Raises:
        ValueError: ``name`` is neither a registry name nor a file in the cache.
        WeightsError: the cache cannot be written (read-only).
    """
    directory = cache.cache_directory(cache_dir)
    fname = cache.forget_target(name, directory)
    path = os.path.join(directory, fname)
    try:
        with cache.file_lock(directory, fname):
            known = fname in cache.recorded(directory)
            if known:
                cache.update_manifest(directory, fname, None)
            existed = os.path.lexists(path)
            safety.remove_entry(path)
    except OSError as e:
        if not safety.is_read_only(e):
            raise
        raise WeightsError(
            f"Cannot forget {name}: the cache directory {directory} cannot be written "
            f"({e.strerror})."
        ) from None
    return known or existed


def load_weights(model, weights, *, name, include_top=True):
    """Load ``weights`` into ``model``, the way every architecture's ``weights=`` works.

    Args:
        model: the freshly built model.
        weights: ``None`` (keep the random initialisation), ``"imagenet"`` (the
            registry file ``name``, or without the top the file of the same model
            and variant without it), or a path to a weights file (legacy ``.h5``
            in the official layout, ``.weights.h5`` or ``.keras``).
        name: registry key of the top file of this model and configuration.
        include_top: whether the model has its classifier.

    Raises:
        ValueError: the file given as ``weights`` is damaged, not a weights file,
            or holds the weights of another architecture (one error that names the
            file and both models).
        WeightsError: the cached ImageNet file cannot be fetched or read.
    """
    if weights is None:
        return model
    cached = None
    if isinstance(weights, str) and weights == "imagenet":
        entry = get(name)
        if not include_top:  # the same model and variant's file without the top
            entry = lookup(entry.model, include_top=False, **dict(entry.variant))
        cached = entry.name
        path = fetch(cached)
    else:
        path = os.fspath(weights)
    problem = loading.weights_file_problem(path)
    if problem:
        raise loading.unreadable_weights(path, problem, cached)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except ValueError as e:
            raise ValueError(loading.mismatch_message(model, path, e)) from None
        except OSError as e:  # h5py: a damaged file that passed the quick checks
            raise loading.unreadable_weights(
                path, f"cannot be read as weights ({e})", cached
            ) from None
    for w in caught:  # the load worked: pass Keras' own warnings on
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model
