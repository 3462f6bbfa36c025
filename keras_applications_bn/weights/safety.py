"""File operations that are safe in a shared cache, and the checks of what is read back.

A shared cache is hostile ground: anyone who can write to it may plant links,
hard links, directories or junk. The rules kept here: never follow a symbolic
link inside the cache (open with O_NOFOLLOW, check lstat), never return a path
that resolves outside the cache, write bookkeeping atomically, bound every read
of it, check every record read back from disk (a manifest record, a partial
download's ``.partinfo``) before using it, and turn a read-only or full disk into
an error that says what to do.

``free_bytes`` is a hook tests replace: callers in other modules look it up here
(``safety.free_bytes``), so patching it here reaches every caller.
"""

import errno
import json
import os
import shutil
import stat
import tempfile

from keras_applications_bn.weights.errors import WeightsError
from keras_applications_bn.weights.progress import format_bytes

#: How many bytes one read of a file or of the network asks for.
CHUNK = 1 << 20
#: ``os.open`` flags: never follow a final symbolic link; never block on a FIFO.
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
#: The ``errno`` values of a cache that cannot be written, and of a full disk.
READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
SPACE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

#: The largest manifest or .partinfo read (a manifest of every registry file is ~70 KB).
_JSON_MAX = 16 << 20


# --------------------------------------------------------------------------- entries


def open_read(path):
    """Open ``path`` for reading in binary mode without following a symbolic link.

    Args:
        path: the file to open.

    Returns:
        A binary file object.
    """
    fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    return os.fdopen(fd, "rb")


def entry_problem(st):
    """Why a cache entry cannot hold a file.

    Args:
        st: the entry's ``os.lstat`` result.

    Returns:
        Why (a symbolic link, a directory, a special file), or None.
    """
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link (never followed or trusted inside the cache)"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    return None


def remove_entry(path):
    """Remove the file or link ``path`` (a link itself, never its target).

    Args:
        path: the entry to remove; a missing one is fine.

    Raises:
        WeightsError: ``path`` is a directory.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise WeightsError(
            f"{path} is a directory where the cache keeps a file; remove it and retry."
        )
    os.unlink(path)


def inside_cache(directory, path):
    """Check that ``path`` is a file of the cache ``directory`` and no link.

    Args:
        directory: the cache directory.
        path: a path in it.

    Returns:
        ``path``.

    Raises:
        WeightsError: ``path`` is a link or resolves outside ``directory``.
    """
    real = os.path.realpath(path)
    if os.path.dirname(real) != os.path.realpath(directory) or os.path.islink(path):
        raise WeightsError(
            f"{path} resolves to {real}, outside the cache directory {directory}; "
            "a cache entry is never a link. Remove it and retry."
        )
    return path


def fsync_dir(directory):
    """Flush a directory's entries to disk (after a rename into it; POSIX only).

    Args:
        directory: the directory.
    """
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- JSON files


def write_json_atomic(path, data):
    """Write ``data`` as JSON to ``path``: to a temporary file beside it, then renamed.

    Args:
        path: the file to (re)place.
        data: a JSON-serialisable object.
    """
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_json(path):
    """Read the JSON object stored at ``path``, refusing what cannot be used.

    Args:
        path: the file.

    Returns:
        ``(data, problem)``: the object and ``None``; ``({}, None)`` when there is
        no such file; ``({}, why)`` when the file is there but cannot be used (not
        a regular file, too large, not JSON, not an object).
    """
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | NONBLOCK)  # a planted FIFO never blocks
    except FileNotFoundError:
        return {}, None
    except OSError as e:
        return {}, f"cannot be read ({e.strerror})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return {}, "is not a regular file"
        chunks, size = [], 0
        while size <= _JSON_MAX and (chunk := os.read(fd, CHUNK)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        return {}, f"cannot be read ({e.strerror})"
    finally:
        os.close(fd)
    if size > _JSON_MAX:
        return {}, f"is larger than {format_bytes(_JSON_MAX)}"
    try:
        data = json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        return {}, "is not valid JSON"
    if not isinstance(data, dict):
        return {}, f"holds a JSON {type(data).__name__}, not an object"
    return data, None


def read_json(path):
    """The JSON object stored at ``path``; ``{}`` when it is missing or unusable.

    Args:
        path: the file.

    Returns:
        A dict.
    """
    return load_json(path)[0]


# --------------------------------------------------------------------------- what is read back

# Everything the cache reads back from disk (the manifest's records, a partial
# download's .partinfo) may have been written by someone else, or be damaged:
# each record is checked here, by one validator, before any of it is used. What
# fails is ignored, as if it were not there. (Names: ``cache.name_problem``.)

_HEX = frozenset("0123456789abcdef")
_DIGEST_LENGTHS = {"md5": 32, "sha256": 64}


def short(value):
    """``repr(value)``, cut to 60 characters, for messages about what was read back.

    Args:
        value: any object.

    Returns:
        A string.
    """
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value):
    return type(value) is int  # what JSON gives for an integer: never a bool


def _is_digest(value):
    return isinstance(value, str) and len(value) in (32, 64) and set(value) <= _HEX


def _is_header(value):
    """A value that can go back to the server in a request header."""
    return isinstance(value, str) and all(32 <= ord(c) < 127 for c in value)


def _optional(check):
    return lambda value: value is None or check(value)


#: The fields of a manifest record: ``name: (required, check, what it must be)``.
_MANIFEST_FIELDS = {
    "algorithm": (True, lambda v: isinstance(v, str) and v in _DIGEST_LENGTHS, "'md5' or 'sha256'"),
    "digest": (True, _is_digest, "a lower-case md5 or sha256 hex digest"),
    "size": (False, _optional(lambda v: _is_int(v) and v >= 0), "an int >= 0 or null"),
    "mtime_ns": (False, _optional(_is_int), "an int or null"),
    "trust": (
        True,
        lambda v: isinstance(v, str) and v in ("pinned", "first-use"),
        "'pinned' or 'first-use'",
    ),
    "url": (False, _optional(lambda v: isinstance(v, str)), "a string or null"),
}

#: The fields of a partial download's ``.partinfo``.
_PARTINFO_FIELDS = {
    "url": (True, lambda v: isinstance(v, str), "a string"),
    "expected": (False, _optional(_is_digest), "a hex digest or null"),
    "etag": (False, _optional(_is_header), "a header value (printable ASCII) or null"),
    "last_modified": (False, _optional(_is_header), "a header value (printable ASCII) or null"),
}


def _record_problem(record, fields):
    """Why ``record`` is not a record with ``fields`` (unknown fields are allowed)."""
    if not isinstance(record, dict):
        return f"is a JSON {type(record).__name__}, not an object"
    for key, (required, valid, what) in fields.items():
        if key not in record:
            if required:
                return f"has no {key!r}"
        elif not valid(record[key]):
            return f"has {key}={short(record[key])}, not {what}"
    return None


def manifest_record_problem(record):
    """Why a record read from the manifest cannot be used.

    Args:
        record: the record as read.

    Returns:
        Why (a missing or wrongly typed field, a digest of the wrong length), or None.
    """
    problem = _record_problem(record, _MANIFEST_FIELDS)
    if problem is None and len(record["digest"]) != _DIGEST_LENGTHS[record["algorithm"]]:
        return f"has a digest of {len(record['digest'])} hex digits for {record['algorithm']}"
    return problem


def partinfo_problem(info):
    """Why a partial download's ``.partinfo`` as read cannot be used.

    Args:
        info: the record as read.

    Returns:
        Why, or None.
    """
    return _record_problem(info, _PARTINFO_FIELDS)


# --------------------------------------------------------------------------- full and read-only disks


def is_read_only(error):
    """Whether ``error`` says that the cache cannot be written.

    Args:
        error: an ``OSError``.

    Returns:
        True for a read-only or forbidden file system (not for a ``WeightsError``).
    """
    return not isinstance(error, WeightsError) and error.errno in READ_ONLY_ERRNOS


def free_bytes(directory):
    """The free space of the disk of ``directory`` in bytes, or None when unknown.

    Args:
        directory: a directory.

    Returns:
        An int, or None.
    """
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


def space_error(directory, fname, needed, cause=None):
    """The error for a cache directory without room for more bytes of ``fname``.

    Args:
        directory: the cache directory.
        fname: the file being downloaded.
        needed: how many more bytes it needs, or None when unknown.
        cause: the ``OSError`` the disk raised, if any.

    Returns:
        A ``WeightsError`` (to raise).
    """
    free = free_bytes(directory)
    need = f"{format_bytes(needed)} more" if needed is not None else "more space"
    have = f", {format_bytes(free)} free" if free is not None else ""
    why = f" ({cause.strerror})" if cause is not None and cause.strerror else ""
    return WeightsError(
        f"Not enough space in {directory} for {fname}: it needs {need}{have}{why}. "
        "The partial download was removed. Free some space there (or set KERAS_HOME to "
        "a larger disk) and retry."
    )


def read_only_error(directory, fname, cause):
    """The error for a file a read-only cache does not hold (or holds damaged).

    Args:
        directory: the cache directory.
        fname: the file.
        cause: the ``OSError`` the write raised.

    Returns:
        A ``WeightsError`` (to raise).
    """
    return WeightsError(
        f"{fname} is not in the cache (or failed its check), and the cache directory "
        f"{directory} cannot be written ({cause.strerror}), so it cannot be downloaded "
        f"there. Fetch it into that cache where it is writable "
        f"(`KERAS_HOME=... python -m keras_applications_bn fetch ...`), or point "
        f"KERAS_HOME at a writable directory."
    )
