"""The cache: its layout, file names, manifest and locks.

Weight files live directly in the cache directory (``$KERAS_HOME/models`` or
``~/.keras/models``) under the same names as Keras gives them, so an existing
Keras cache is reused. Bookkeeping lives in a hidden ``.keras_applications_bn``
directory inside it: ``manifest.json`` (one small record per verified file),
lock files and partial downloads (``files/``). Keras never looks there.

Every name the cache uses is checked by one rule (``name_problem``), and
every directory of the bookkeeping must be a real directory, never a link (the
other rules of a shared cache: ``safety``).
"""

import os
import stat
import urllib.parse

from keras_applications_bn.weights import registry, safety, settings
from keras_applications_bn.weights.errors import WeightsError
from keras_applications_bn.weights.locks import FileLock

#: Name of the hidden bookkeeping directory inside a cache directory.
STATE_DIR = ".keras_applications_bn"

#: The longest cache file name, in bytes: the longest name a file system takes
#: (255), less the suffix of the partial download's info file (".partinfo").
_NAME_MAX = 255 - len(".partinfo")


# --------------------------------------------------------------------------- layout


def default_cache_dir():
    """The directory where weight files are cached (created if missing).

    ``$KERAS_HOME/models`` when ``KERAS_HOME`` is set, else ``~/.keras/models``.
    Unlike Keras, a directory that exists but is not writable (a read-only shared
    cache) is used as it is, not silently replaced by a temporary directory:
    verified files are served from it, and only a download needs to write.

    Returns:
        The path of the directory.

    Raises:
        ValueError: ``$KERAS_HOME`` (or the cache directory) is a file.
        WeightsError: the directory does not exist and cannot be created.
    """
    base, what = settings.keras_home()
    if os.path.exists(base) and not os.path.isdir(base):
        raise ValueError(
            f"{what} {base!r} is a file, not a directory. Point KERAS_HOME at a directory "
            "(weight files are cached in $KERAS_HOME/models)."
        )
    return _ensure_directory(os.path.join(base, "models"), what="The cache directory")


def _ensure_directory(path, what):
    """``path``, created if missing; a clear error if it is a file or cannot be created."""
    if os.path.isdir(path):
        return path
    if os.path.lexists(path):
        raise ValueError(
            f"{what} {path!r} exists but is not a directory; remove it or choose another "
            "directory (KERAS_HOME, or `cache_dir`)."
        )
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(
            f"{what} {path!r} cannot be created: a part of that path is a file. "
            "Choose another directory (KERAS_HOME, or `cache_dir`)."
        ) from None
    except OSError as e:
        raise WeightsError(
            f"{what} {path!r} does not exist and cannot be created ({e.strerror}). "
            "Create it, or set KERAS_HOME to a writable directory."
        ) from None
    return path


def cache_directory(cache_dir):
    """The cache directory a call works in (created if missing).

    Args:
        cache_dir: the ``cache_dir`` argument: a path, or None for
            ``default_cache_dir``.

    Returns:
        An absolute path.

    Raises:
        TypeError: ``cache_dir`` is not a path.
        ValueError: it is a file, or cannot be created below a file.
        WeightsError: it cannot be created.
    """
    if cache_dir is None:
        return default_cache_dir()
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"`cache_dir` must be a path or None, got {type(cache_dir).__name__}.")
    directory = os.path.abspath(os.fspath(cache_dir))
    return _ensure_directory(directory, what="`cache_dir`")


def state_path(directory, *parts):
    """``<directory>/.keras_applications_bn/<parts>``, creating its directories.

    Every directory on the way must be a real directory: a symbolic link planted
    there (which would move our writes outside the cache) is refused.

    Args:
        directory: the cache directory.
        *parts: the path below the bookkeeping directory, e.g. ``"files", "x.h5.lock"``.

    Returns:
        The path.

    Raises:
        WeightsError: a directory on the way is a link or another file.
    """
    current = directory
    for part in (STATE_DIR, *parts[:-1]):
        current = os.path.join(current, part)
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            pass
        st = os.lstat(current)
        if not stat.S_ISDIR(st.st_mode):
            raise WeightsError(
                f"{current} {safety.entry_problem(st) or 'is not a directory'}; the cache's "
                "bookkeeping never follows links or writes through other files. "
                "Remove it and retry."
            )
    return os.path.join(current, parts[-1])


def _state_dir_is_real(directory):
    """Whether the bookkeeping directory exists and is a real directory (not a link)."""
    try:
        return stat.S_ISDIR(os.lstat(os.path.join(directory, STATE_DIR)).st_mode)
    except OSError:
        return False


# --------------------------------------------------------------------------- names


def _has_control(text):
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def name_problem(name):
    """Why ``name`` is not a plain file name inside the cache directory.

    The one rule for every cache file name: a ``fname`` argument, a name derived
    from a URL, and every name read from the manifest.

    Args:
        name: the name to check (any object).

    Returns:
        Why (a path, ``..``, a control character, too long, ...), or None.
    """
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a string"
    if not name:
        return "is empty"
    if name in {".", "..", STATE_DIR}:
        return "names a directory, not a file"
    if any(sep in name for sep in "/\\:"):
        return "contains a directory separator ('/', '\\' or ':')"
    if _has_control(name):
        return "contains a control character"
    try:
        size = len(os.fsencode(name))
    except UnicodeError:
        return "cannot be encoded as a file name"
    if size > _NAME_MAX:
        return f"is longer than {_NAME_MAX} bytes"
    return None


def safe_fname(fname, url):
    """The cache file name a fetch uses.

    Args:
        fname: the ``fname`` argument, or None for the last part of ``url``'s path.
        url: the URL of the file.

    Returns:
        A plain file name inside the cache directory.

    Raises:
        TypeError: ``fname`` is not a string.
        ValueError: it is not a plain file name (see ``name_problem``).
    """
    if fname is None:
        fname = os.path.basename(urllib.parse.urlsplit(url).path)
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError(f"`fname` must be a string or None, got {type(fname).__name__}.")
    fname = os.fspath(fname)
    if not isinstance(fname, str):
        raise TypeError(f"`fname` must be a string or None, got {type(fname).__name__}.")
    problem = name_problem(fname)
    if problem:
        raise ValueError(
            f"`fname` must be a plain file name inside the cache directory, got {fname!r} "
            f"(it {problem}); pass fname='something.h5' (no directories, no '..', no "
            "control characters)."
        )
    return fname


def forget_target(name, directory):
    """The cache file name ``forget`` acts on, checked before anything is deleted.

    Args:
        name: a registry name, or the name of a file in the cache.
        directory: the cache directory.

    Returns:
        The file name.

    Raises:
        ValueError: ``name`` is neither a registry name nor a file in the cache
            (with the registry names that look like it).
    """
    if isinstance(name, str) and name in registry.REGISTRY:
        return registry.REGISTRY[name].fname
    fname = safe_fname(name, "")
    if fname in recorded(directory) or os.path.lexists(os.path.join(directory, fname)):
        return fname
    try:
        registry.get(name)  # the error with similar registry names
    except ValueError as e:
        raise ValueError(
            f"{e} No file named {fname!r} is in the cache {directory} either."
        ) from None
    return fname  # pragma: no cover - get() raised


# --------------------------------------------------------------------------- locks


def file_lock(directory, fname, on_wait=None):
    """The lock that one download (or ``forget``) of ``fname`` holds.

    Args:
        directory: the cache directory.
        fname: the cache file name.
        on_wait: as for ``FileLock``.

    Returns:
        A ``FileLock`` (not yet acquired).
    """
    return FileLock(state_path(directory, "files", fname + ".lock"), on_wait=on_wait)


# --------------------------------------------------------------------------- manifest


def read_manifest(directory):
    """Every valid record of the manifest of ``directory``, and what was ignored.

    Args:
        directory: the cache directory.

    Returns:
        ``(files, problems)``: ``{fname: record}``, and a description of each
        thing that was ignored (a damaged record, or the whole file).
    """
    if not _state_dir_is_real(directory):
        return {}, []
    data, problem = safety.load_json(os.path.join(directory, STATE_DIR, "manifest.json"))
    if problem:
        return {}, [f"the whole file: it {problem}"]
    files = data.get("files", {})
    if not isinstance(files, dict):
        return {}, [f"the whole file: its 'files' is a JSON {type(files).__name__}, not an object"]
    valid, problems = {}, []
    for fname, record in files.items():
        why = name_problem(fname)
        if why:
            why = f"its name {why} (not a plain file name inside the cache)"
        else:
            why = safety.manifest_record_problem(record)
        if why:
            problems.append(f"record {safety.short(fname)}: {why}")
        else:
            valid[fname] = record
    return valid, problems


def recorded(directory):
    """``{fname: record}`` of every verified file in ``directory``.

    Args:
        directory: the cache directory.

    Returns:
        A dict; damaged records are left out (see ``read_manifest``).
    """
    return read_manifest(directory)[0]


def update_manifest(directory, fname, record):
    """Set (or, with ``record=None``, drop) the manifest record of ``fname``.

    Args:
        directory: the cache directory.
        fname: the cache file name.
        record: the new record (see ``new_record``), or None.
    """
    path = state_path(directory, "manifest.json")
    with FileLock(state_path(directory, "manifest.lock")):
        files = recorded(directory)
        if record is None:
            if files.pop(fname, None) is None:
                return
        else:
            files[fname] = record
        safety.write_json_atomic(path, {"version": 1, "files": files})


def remember(directory, fname, record):
    """``update_manifest`` where the cache may be read-only or full.

    The record only saves work later, so a cache that cannot take it is served
    all the same.

    Args:
        directory: the cache directory.
        fname: the cache file name.
        record: the record, or None.

    Returns:
        Whether the record was written.
    """
    try:
        update_manifest(directory, fname, record)
    except OSError as e:
        if e.errno in safety.READ_ONLY_ERRNOS or e.errno in safety.SPACE_ERRNOS:
            return False
        raise
    return True


def new_record(path, digest, trust, url=None):
    """The manifest record of the verified file ``path``.

    Args:
        path: the file.
        digest: its digest (with ``algorithm`` and ``hexdigest``).
        trust: ``"pinned"`` or ``"first-use"``.
        url: where it was downloaded from, if known.

    Returns:
        A dict, with the file's size and mtime.
    """
    st = os.lstat(path)
    return {
        "algorithm": digest.algorithm,
        "digest": digest.hexdigest,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "trust": trust,
        "url": url,
    }
