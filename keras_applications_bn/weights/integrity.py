"""Is a file what it claims to be: digests, hashing, HDF5 and content checks, and
the check of a cached file against its pinned hash or its manifest record.

A file with a pinned hash must match it. A file without one is trusted on first
use, and only once it is a complete HDF5 file (signature, end-of-file address,
h5py opens it); its sha256 is then recorded and enforced from then on.

``hash_file`` is a hook tests replace: callers in other modules look it up here
(``integrity.hash_file``), so patching it here reaches every caller.
"""

import dataclasses
import hashlib
import os

from keras_applications_bn.weights import cache, safety

#: The first bytes of an HDF5 file (at offset 0, 512, 1024, ...).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HDF5_SUFFIXES = (".h5", ".hdf5")
#: Content types a server uses for error pages, never for an HDF5 file.
_TEXT_TYPES = ("text/html", "text/plain", "application/xhtml+xml")


# --------------------------------------------------------------------------- digests


@dataclasses.dataclass(frozen=True)
class Digest:
    """An expected or computed file digest.

    Attributes:
        algorithm: ``"md5"`` or ``"sha256"``.
        hexdigest: the lower-case hex digest.
    """

    algorithm: str
    hexdigest: str

    def new(self):
        """A fresh ``hashlib`` hasher of this digest's algorithm."""
        return hashlib.new(self.algorithm)


def parse_digest(file_hash, argument="file_hash"):
    """The digest a ``file_hash`` argument (or a registry entry) pins.

    Args:
        file_hash: an md5 (32) or sha256 (64 hex digits) hex string, or None.
        argument: the argument's name, for the error.

    Returns:
        A ``Digest``, or None when ``file_hash`` is None.

    Raises:
        TypeError: ``file_hash`` is not a string.
        ValueError: it is not a hex digest of either length.
    """
    if file_hash is None:
        return None
    if not isinstance(file_hash, str):
        raise TypeError(
            f"`{argument}` must be a hex string or None, got {type(file_hash).__name__}."
        )
    digest = file_hash.strip().lower()
    if digest and all(c in "0123456789abcdef" for c in digest):
        if len(digest) == 32:
            return Digest("md5", digest)
        if len(digest) == 64:
            return Digest("sha256", digest)
    raise ValueError(
        f"`{argument}` must be an md5 (32 hex digits) or sha256 (64 hex digits) "
        f"digest, got {file_hash!r}."
    )


def hash_file(path, algorithm):
    """Hash the file ``path`` (never through a symbolic link).

    Args:
        path: the file.
        algorithm: ``"md5"`` or ``"sha256"``.

    Returns:
        The ``hashlib`` hasher, fed with the whole file.
    """
    hasher = hashlib.new(algorithm)
    with safety.open_read(path) as f:
        for chunk in iter(lambda: f.read(safety.CHUNK), b""):
            hasher.update(chunk)
    return hasher


# --------------------------------------------------------------------------- content


def expects_hdf5(fname):
    """Whether ``fname`` names an HDF5 file (``.h5``, ``.hdf5``).

    Args:
        fname: a file name or path.

    Returns:
        A bool.
    """
    return fname.lower().endswith(_HDF5_SUFFIXES)


def hdf5_signature_offset(f, size):
    """Where the HDF5 signature is in the open file ``f`` of ``size`` bytes.

    Args:
        f: a binary file object (it is seeked).
        size: how many of its bytes to consider.

    Returns:
        The offset (0, 512, 1024, ...), or None.
    """
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= size:
        f.seek(offset)
        if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None


def _describe_start(head):
    text = head.lstrip().lower()
    if (
        text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))
        or b"<html" in text
    ):
        return " (it starts like an HTML page: a server's error or login page?)"
    if text.startswith((b"{", b"[")):
        return " (it starts like JSON)"
    return ""


def _superblock_problem(f, size, start):
    """Why the HDF5 superblock at ``start`` does not describe a complete file, or None."""
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
    end = base + int.from_bytes(raw[2 * offsets :], "little")
    if end > size:
        return f"is truncated: its HDF5 superblock says {end} bytes, the file has {size}"
    return None


def hdf5_problem(path, deep=True):
    """Why ``path`` is not a complete HDF5 file.

    Checks the signature (at offset 0, 512, 1024, ...), that the end-of-file
    address in the superblock fits the file's size (a truncated download fails
    here), and with ``deep`` that h5py opens the file.

    Args:
        path: the file.
        deep: also open it with h5py.

    Returns:
        Why, or None when it is a complete HDF5 file.
    """
    try:
        f = safety.open_read(path)
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return "is empty (0 bytes)"
        start = hdf5_signature_offset(f, size)
        if start is None:
            f.seek(0)
            return f"is not an HDF5 file: no HDF5 signature{_describe_start(f.read(512))}"
        problem = _superblock_problem(f, size, start)
        if problem:
            return problem
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


def content_type_problem(fname, content_type):
    """Why a response with ``content_type`` cannot be the file ``fname``.

    Args:
        fname: the file name asked for.
        content_type: the response's ``Content-Type`` header, or None.

    Returns:
        Why (an error page's type for an HDF5 file), or None.
    """
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if expects_hdf5(fname) and kind in _TEXT_TYPES:
        return f"the server sent {kind!r} content for an HDF5 file (an error or login page?)"
    return None


# --------------------------------------------------------------------------- cached files


@dataclasses.dataclass(frozen=True)
class CacheCheck:
    """The state of one file in the cache, as ``verify`` reports it.

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


def _unchanged(record, expected, st):
    """Whether the manifest ``record`` vouches for the file with ``os.lstat`` result
    ``st`` without hashing it: same digest, size and mtime, and no other names."""
    return (
        record
        and expected is not None
        and st.st_nlink == 1
        and record.get("algorithm") == expected.algorithm
        and record.get("digest") == expected.hexdigest
        and record.get("size") == st.st_size
        and record.get("mtime_ns") == st.st_mtime_ns
    )


def check_cached(directory, fname, pinned, *, force=False, name=None):
    """Check the cached ``fname`` against ``pinned`` or its manifest record.

    Trusts a recorded file whose size and mtime are unchanged unless ``force``;
    otherwise hashes it and, when it passes, records it (trust on first use for
    files without a pinned hash, once ``hdf5_problem`` finds nothing wrong).
    A symbolic link, a directory or another special file is never trusted, a hard
    linked file is re-hashed on every check, and the cache is only read when the
    manifest cannot be written (a read-only cache).

    Args:
        directory: the cache directory.
        fname: the cache file name.
        pinned: the pinned ``Digest``, or None.
        force: hash the file even when its record vouches for it.
        name: its registry name, for the report.

    Returns:
        A ``CacheCheck``.
    """
    path = os.path.join(directory, fname)
    record = cache.recorded(directory).get(fname)
    if pinned is not None:
        expected, trust = pinned, "pinned"
    elif record:
        expected, trust = Digest(record["algorithm"], record["digest"]), record.get("trust")
    else:
        expected, trust = None, "first-use"
    common = dict(fname=fname, path=path, trust=trust, name=name)
    if expected is not None:
        common.update(algorithm=expected.algorithm, expected=expected.hexdigest)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return CacheCheck(status="missing", **dict(common, trust=trust if expected else None))
    unsafe = safety.entry_problem(st)
    if unsafe:
        return CacheCheck(status="corrupt", reason=unsafe, **common)
    # A file without a pinned hash must at least be a complete HDF5 file: cheap
    # (two small reads) on every check, the full open when it is (re-)hashed.
    validate = trust != "pinned" and expects_hdf5(fname)
    structure = hdf5_problem(path, deep=False) if validate else None
    if not force and structure is None and _unchanged(record, expected, st):
        return CacheCheck(status="ok", size=st.st_size, **common)
    actual = hash_file(path, expected.algorithm if expected else "sha256").hexdigest()
    if expected is not None and actual != expected.hexdigest:
        # Keep the digest (a fresh download is checked against it) but forget the
        # size+mtime, so that nothing trusts this file without hashing it again.
        if record and record.get("mtime_ns") is not None:
            cache.remember(directory, fname, dict(record, size=None, mtime_ns=None))
        return CacheCheck(
            status="corrupt", actual=actual, size=st.st_size, reason=structure, **common
        )
    problem = structure or (hdf5_problem(path, deep=True) if validate else None)
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
    digest = expected or Digest("sha256", actual)
    url = (record or {}).get("url")
    recorded = cache.remember(directory, fname, cache.new_record(path, digest, trust, url))
    common.update(algorithm=digest.algorithm, expected=digest.hexdigest)
    return CacheCheck(
        status="ok",
        actual=actual,
        size=st.st_size,
        recorded_now=expected is None and recorded,
        **common,
    )
