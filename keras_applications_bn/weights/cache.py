"""The cache: its layout, manifest and locks, and the checks that keep it safe.

Weight files live directly in the cache directory (``$KERAS_HOME/models`` or
``~/.keras/models``) under the same names as Keras gives them, so an existing
Keras cache is reused. Bookkeeping lives in a hidden ``.keras_applications_bn``
directory inside it: ``manifest.json`` (one small record per verified file),
lock files and partial downloads (``files/``). Keras never looks there.

A shared cache is hostile ground: anyone who can write to it may plant links,
hard links, directories or junk. The rules: never follow a symbolic link inside
the cache (open with O_NOFOLLOW, check lstat), never append to a file that has
other names, never return a path that resolves outside the cache, check every
name and record read back from disk (manifest, ``.partinfo``) before using it and
ignore what fails, and trust a file without a pinned hash only once it is a
complete HDF5 file.

The hooks tests replace (``_hash_file``, ``_free_bytes``) are looked up in this
module by the downloader too, so patching them here reaches every caller.
"""

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
import urllib.parse

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

from keras_applications_bn.weights import settings
from keras_applications_bn.weights.errors import WeightsError
from keras_applications_bn.weights.progress import _format_bytes

#: Name of the hidden bookkeeping directory inside a cache directory.
STATE_DIR = ".keras_applications_bn"

_CHUNK = 1 << 20


# --------------------------------------------------------------------------- digests


@dataclasses.dataclass(frozen=True)
class _Digest:
    algorithm: str  # "md5" or "sha256"
    hexdigest: str

    def new(self):
        return hashlib.new(self.algorithm)


def _parse_digest(file_hash, argument="file_hash"):
    if file_hash is None:
        return None
    if not isinstance(file_hash, str):
        raise TypeError(f"`{argument}` must be a hex string or None, got {type(file_hash).__name__}.")
    digest = file_hash.strip().lower()
    if digest and all(c in "0123456789abcdef" for c in digest):
        if len(digest) == 32:
            return _Digest("md5", digest)
        if len(digest) == 64:
            return _Digest("sha256", digest)
    raise ValueError(
        f"`{argument}` must be an md5 (32 hex digits) or sha256 (64 hex digits) "
        f"digest, got {file_hash!r}."
    )


def _hash_file(path, algorithm):
    hasher = hashlib.new(algorithm)
    with _open_read(path) as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher


# --------------------------------------------------------------------------- layout


def default_cache_dir():
    """The directory where weight files are cached (created if missing).

    ``$KERAS_HOME/models`` when ``KERAS_HOME`` is set, else ``~/.keras/models``.
    Unlike Keras, a directory that exists but is not writable (a read-only shared
    cache) is used as it is, not silently replaced by a temporary directory:
    verified files are served from it, and only a download needs to write.

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


def _safe_fname(fname, url):
    if fname is None:
        fname = os.path.basename(urllib.parse.urlsplit(url).path)
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError(f"`fname` must be a string or None, got {type(fname).__name__}.")
    fname = os.fspath(fname)
    if not isinstance(fname, str):
        raise TypeError(f"`fname` must be a string or None, got {type(fname).__name__}.")
    problem = _name_problem(fname)
    if problem:
        raise ValueError(
            f"`fname` must be a plain file name inside the cache directory, got {fname!r} "
            f"(it {problem}); pass fname='something.h5' (no directories, no '..', no "
            "control characters)."
        )
    return fname


def _cache_directory(cache_dir):
    if cache_dir is None:
        return default_cache_dir()
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"`cache_dir` must be a path or None, got {type(cache_dir).__name__}.")
    directory = os.path.abspath(os.fspath(cache_dir))
    return _ensure_directory(directory, what="`cache_dir`")


def _state_path(directory, *parts):
    """``<directory>/.keras_applications_bn/<parts>``, creating its directories.

    Every directory on the way must be a real directory: a symbolic link planted
    there (which would move our writes outside the cache) is refused.
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
                f"{current} {_entry_problem(st) or 'is not a directory'}; the cache's "
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


def _fsync_dir(directory):
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path, data):
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


def _load_json(path):
    """``(data, problem)``: the JSON object stored at ``path`` and ``None``; ``({},
    None)`` when there is no such file; ``({}, why)`` when the file is there but
    cannot be used (not a regular file, too large, not JSON, not an object)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)  # a planted FIFO never blocks
    except FileNotFoundError:
        return {}, None
    except OSError as e:
        return {}, f"cannot be read ({e.strerror})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return {}, "is not a regular file"
        chunks, size = [], 0
        while size <= _JSON_MAX and (chunk := os.read(fd, _CHUNK)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        return {}, f"cannot be read ({e.strerror})"
    finally:
        os.close(fd)
    if size > _JSON_MAX:
        return {}, f"is larger than {_format_bytes(_JSON_MAX)}"
    try:
        data = json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        return {}, "is not valid JSON"
    if not isinstance(data, dict):
        return {}, f"holds a JSON {type(data).__name__}, not an object"
    return data, None


def _read_json(path):
    """The JSON object stored at ``path``; ``{}`` when it is missing or unusable."""
    return _load_json(path)[0]


class _FileLock:
    """An exclusive lock on ``path`` between processes (and threads), released on exit
    or when the holder dies; ``on_wait`` is called once if the lock is busy."""

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
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
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


# --------------------------------------------------------------------------- safety

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_SPACE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HDF5_SUFFIXES = (".h5", ".hdf5")
#: Content types a server uses for error pages, never for an HDF5 file.
_TEXT_TYPES = ("text/html", "text/plain", "application/xhtml+xml")


def _open_read(path):
    """Open ``path`` for reading in binary mode without following a symbolic link."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    return os.fdopen(fd, "rb")


def _entry_problem(st):
    """Why the cache entry with ``os.lstat`` result ``st`` cannot hold a file, or None."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link (never followed or trusted inside the cache)"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    return None


def _remove_entry(path):
    """Remove the file or link ``path`` (a link itself, never its target)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise WeightsError(f"{path} is a directory where the cache keeps a file; remove it and retry.")
    os.unlink(path)


def _inside_cache(directory, path):
    """``path``, after checking that it is a regular file that resolves inside ``directory``."""
    real = os.path.realpath(path)
    if os.path.dirname(real) != os.path.realpath(directory) or os.path.islink(path):
        raise WeightsError(
            f"{path} resolves to {real}, outside the cache directory {directory}; "
            "a cache entry is never a link. Remove it and retry."
        )
    return path


def _expects_hdf5(fname):
    return fname.lower().endswith(_HDF5_SUFFIXES)


def _hdf5_signature_offset(f, size):
    """Where the HDF5 signature is (0, 512, 1024, ...), or None."""
    offset = 0
    while offset + len(_HDF5_SIGNATURE) <= size:
        f.seek(offset)
        if f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None


def _describe_start(head):
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in text:
        return " (it starts like an HTML page: a server's error or login page?)"
    if text.startswith((b"{", b"[")):
        return " (it starts like JSON)"
    return ""


def _hdf5_problem(path, deep=True):
    """Why ``path`` is not a complete HDF5 file, or ``None`` when it is.

    Checks the signature (at offset 0, 512, 1024, ...), that the end-of-file
    address in the superblock fits the file's size (a truncated download fails
    here), and with ``deep`` that h5py opens the file.
    """
    try:
        f = _open_read(path)
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return "is empty (0 bytes)"
        start = _hdf5_signature_offset(f, size)
        if start is None:
            f.seek(0)
            return f"is not an HDF5 file: no HDF5 signature{_describe_start(f.read(512))}"
        f.seek(start + 8)
        head = f.read(8)
        version = head[0] if head else None
        if version in (0, 1):
            offsets = head[5] if len(head) > 5 else 0
            addresses = start + (24 if version == 0 else 28)
        elif version in (2, 3):
            offsets = head[1] if len(head) > 1 else 0
            addresses = start + 12
        else:
            return f"has an HDF5 superblock of unknown version {version} (damaged or truncated)"
        if offsets not in (2, 4, 8):
            return "has a damaged HDF5 superblock"
        f.seek(addresses)
        raw = f.read(3 * offsets)
        if len(raw) < 3 * offsets:
            return f"is truncated: {size} bytes end inside its HDF5 superblock"
        base = int.from_bytes(raw[:offsets], "little")
        end = base + int.from_bytes(raw[2 * offsets:], "little")
        if end > size:
            return f"is truncated: its HDF5 superblock says {end} bytes, the file has {size}"
    if deep:
        try:
            import h5py
        except ImportError:  # pragma: no cover - Keras needs h5py
            return None
        try:
            h5py.File(path, "r").close()
        except Exception as e:  # h5py raises OSError, KeyError, ... on damaged files
            return f"does not open as HDF5 ({e})"
    return None


def _content_type_problem(fname, content_type):
    """Why a response with ``content_type`` cannot be the file ``fname``, or None."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if _expects_hdf5(fname) and kind in _TEXT_TYPES:
        return f"the server sent {kind!r} content for an HDF5 file (an error or login page?)"
    return None


def _free_bytes(directory):
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


def _space_error(directory, fname, needed, cause=None):
    """The error for a cache directory without room for ``needed`` more bytes of ``fname``."""
    free = _free_bytes(directory)
    need = f"{_format_bytes(needed)} more" if needed is not None else "more space"
    have = f", {_format_bytes(free)} free" if free is not None else ""
    why = f" ({cause.strerror})" if cause is not None and cause.strerror else ""
    return WeightsError(
        f"Not enough space in {directory} for {fname}: it needs {need}{have}{why}. "
        "The partial download was removed. Free some space there (or set KERAS_HOME to "
        "a larger disk) and retry."
    )


def _read_only_error(directory, fname, cause):
    return WeightsError(
        f"{fname} is not in the cache (or failed its check), and the cache directory "
        f"{directory} cannot be written ({cause.strerror}), so it cannot be downloaded "
        f"there. Fetch it into that cache where it is writable "
        f"(`KERAS_HOME=... python -m keras_applications_bn fetch ...`), or point "
        f"KERAS_HOME at a writable directory."
    )


# --------------------------------------------------------------------------- what is read back

# Everything the cache reads back from disk (the manifest's names and records, a
# partial download's .partinfo) may have been written by someone else, or be
# damaged: each is checked here, by one validator for names and one for records,
# before any of it is used. What fails is ignored, as if it were not there.

#: The longest cache file name, in bytes: the longest name a file system takes
#: (255), less the suffix of the partial download's info file (".partinfo").
_NAME_MAX = 255 - len(".partinfo")
#: The largest manifest or .partinfo read (a manifest of every registry file is ~70 KB).
_JSON_MAX = 16 << 20
_HEX = frozenset("0123456789abcdef")
_DIGEST_LENGTHS = {"md5": 32, "sha256": 64}


def _has_control(text):
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _name_problem(name):
    """Why ``name`` is not a plain file name inside the cache directory, or None.

    The one rule for every cache file name: a ``fname`` argument, a name derived
    from a URL, and every name read from the manifest.
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


def _short(value):
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
    "trust": (True, lambda v: isinstance(v, str) and v in ("pinned", "first-use"), "'pinned' or 'first-use'"),
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
    """Why ``record`` (read from disk) is not a record with ``fields``, or None.

    The one check for every record read back: the manifest's (``_MANIFEST_FIELDS``,
    whose digest must also have its algorithm's length) and a ``.partinfo``
    (``_PARTINFO_FIELDS``). Unknown fields are allowed.
    """
    if not isinstance(record, dict):
        return f"is a JSON {type(record).__name__}, not an object"
    for key, (required, valid, what) in fields.items():
        if key not in record:
            if required:
                return f"has no {key!r}"
        elif not valid(record[key]):
            return f"has {key}={_short(record[key])}, not {what}"
    if fields is _MANIFEST_FIELDS and len(record["digest"]) != _DIGEST_LENGTHS[record["algorithm"]]:
        return f"has a digest of {len(record['digest'])} hex digits for {record['algorithm']}"
    return None


# --------------------------------------------------------------------------- manifest


def _read_manifest(directory):
    """``(files, problems)``: ``{fname: record}`` of every valid record of the
    manifest of ``directory``, and a description of each thing that was ignored
    (a damaged record, or the whole file)."""
    if not _state_dir_is_real(directory):
        return {}, []
    data, problem = _load_json(os.path.join(directory, STATE_DIR, "manifest.json"))
    if problem:
        return {}, [f"the whole file: it {problem}"]
    files = data.get("files", {})
    if not isinstance(files, dict):
        return {}, [f"the whole file: its 'files' is a JSON {type(files).__name__}, not an object"]
    valid, problems = {}, []
    for fname, record in files.items():
        why = _name_problem(fname)
        if why:
            why = f"its name {why} (not a plain file name inside the cache)"
        else:
            why = _record_problem(record, _MANIFEST_FIELDS)
        if why:
            problems.append(f"record {_short(fname)}: {why}")
        else:
            valid[fname] = record
    return valid, problems


def _manifest(directory):
    """``{fname: record}`` of every verified file in ``directory`` (damaged records
    are left out: see :func:`_read_manifest`)."""
    return _read_manifest(directory)[0]


def _update_manifest(directory, fname, record):
    """Set (or, with ``record=None``, drop) the record of ``fname``."""
    path = _state_path(directory, "manifest.json")
    with _FileLock(_state_path(directory, "manifest.lock")):
        files = _manifest(directory)
        if record is None:
            if files.pop(fname, None) is None:
                return
        else:
            files[fname] = record
        _write_json_atomic(path, {"version": 1, "files": files})


def _remember(directory, fname, record):
    """:func:`_update_manifest` where the cache may be read-only or full: the record
    only saves work later, so a cache that cannot take it is served all the same.
    Returns whether the record was written."""
    try:
        _update_manifest(directory, fname, record)
    except OSError as e:
        if e.errno in _READ_ONLY_ERRNOS or e.errno in _SPACE_ERRNOS:
            return False
        raise
    return True


def _record(path, digest, trust, url=None):
    st = os.lstat(path)
    return {
        "algorithm": digest.algorithm,
        "digest": digest.hexdigest,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "trust": trust,
        "url": url,
    }


@dataclasses.dataclass(frozen=True)
class CacheCheck:
    """The state of one file in the cache, as :func:`verify` reports it.

    Attributes:
        fname: the file name in the cache.
        path: its full path.
        status: ``"ok"``, ``"corrupt"`` or ``"missing"``.
        trust: ``"pinned"`` (checked against the hash Keras pins or the caller
            passed), ``"first-use"`` (checked against the sha256 recorded at its
            first download) or ``None`` (missing and never recorded).
        algorithm: ``"md5"`` or ``"sha256"`` (``None`` when nothing was checked).
        expected: the digest the file must have (``None`` before first use).
        actual: the digest it has (``None`` when missing or trusted by size+mtime).
        size: its size in bytes (``None`` when missing).
        name: its registry name, ``None`` for files fetched by URL.
        recorded_now: ``True`` when this check recorded the file for the first time.
        reason: why a ``"corrupt"`` file is not trusted when it is not (only) a
            hash mismatch: a symbolic link, a directory, not a complete HDF5 file.
    """

    fname: str
    path: str
    status: str
    trust: str | None
    algorithm: str | None = None
    expected: str | None = None
    actual: str | None = None
    size: int | None = None
    name: str | None = None
    recorded_now: bool = False
    reason: str | None = None


def _check_cached(directory, fname, pinned, *, force=False, name=None):
    """Check the cached ``fname`` against ``pinned`` or its manifest record.

    Trusts a recorded file whose size and mtime are unchanged unless ``force``;
    otherwise hashes it and, when it passes, records it (trust on first use for
    files without a pinned hash, once :func:`_hdf5_problem` finds nothing wrong).
    A symbolic link, a directory or another special file is never trusted, a hard
    linked file is re-hashed on every check, and the cache is only read when the
    manifest cannot be written (a read-only cache).
    """
    path = os.path.join(directory, fname)
    record = _manifest(directory).get(fname)
    if pinned is not None:
        expected, trust = pinned, "pinned"
    elif record:
        expected, trust = _Digest(record["algorithm"], record["digest"]), record.get("trust")
    else:
        expected, trust = None, "first-use"
    common = dict(fname=fname, path=path, trust=trust, name=name)
    if expected is not None:
        common.update(algorithm=expected.algorithm, expected=expected.hexdigest)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return CacheCheck(status="missing", **dict(common, trust=trust if expected else None))
    unsafe = _entry_problem(st)
    if unsafe:
        return CacheCheck(status="corrupt", reason=unsafe, **common)
    # A file without a pinned hash must at least be a complete HDF5 file: cheap
    # (two small reads) on every check, the full open when it is (re-)hashed.
    validate = trust != "pinned" and _expects_hdf5(fname)
    structure = _hdf5_problem(path, deep=False) if validate else None
    if (
        not force
        and structure is None
        and record
        and expected is not None
        and st.st_nlink == 1
        and record.get("algorithm") == expected.algorithm
        and record.get("digest") == expected.hexdigest
        and record.get("size") == st.st_size
        and record.get("mtime_ns") == st.st_mtime_ns
    ):
        return CacheCheck(status="ok", size=st.st_size, **common)
    actual = _hash_file(path, expected.algorithm if expected else "sha256").hexdigest()
    if expected is not None and actual != expected.hexdigest:
        # Keep the digest (a fresh download is checked against it) but forget the
        # size+mtime, so that nothing trusts this file without hashing it again.
        if record and record.get("mtime_ns") is not None:
            _remember(directory, fname, dict(record, size=None, mtime_ns=None))
        return CacheCheck(
            status="corrupt", actual=actual, size=st.st_size, reason=structure, **common
        )
    problem = structure or (_hdf5_problem(path, deep=True) if validate else None)
    if problem:
        # What was (or was about to be) trusted on first use is not a weights file;
        # no digest is reported, so that a fetch does not hold a download to it.
        return CacheCheck(
            status="corrupt",
            actual=actual,
            size=st.st_size,
            reason=f"{problem}; a file without a pinned hash must be a complete HDF5 file",
            **dict(common, trust="first-use", algorithm=None, expected=None),
        )
    digest = expected or _Digest("sha256", actual)
    url = (record or {}).get("url")
    recorded = _remember(directory, fname, _record(path, digest, trust, url))
    common.update(algorithm=digest.algorithm, expected=digest.hexdigest)
    return CacheCheck(
        status="ok",
        actual=actual,
        size=st.st_size,
        recorded_now=expected is None and recorded,
        **common,
    )
