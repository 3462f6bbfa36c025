"""The one registry of official ImageNet weight files, and the one downloader.

Every file that ``weights="imagenet"`` may load is listed in :data:`REGISTRY`,
keyed by a short name (``"resnet50"``, ``"resnet50_notop"``, ...), with the URL
Keras downloads it from and the hash Keras pins for it. :func:`fetch_file`
downloads into the Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``,
the same file names as Keras, so an existing Keras cache is reused), checks the
hash while the bytes stream, and moves a file into place only once it is
complete and verified.

Environment variables:

``KERAS_APPLICATIONS_BN_MIRROR``
    A base URL that replaces the official origin ``https://storage.googleapis.com/``
    for registry files; the relative paths stay the same, and hashes are still
    enforced.
``KERAS_APPLICATIONS_BN_OFFLINE``
    ``1`` (or ``true``/``yes``): never touch the network. A file missing from the
    cache is an error that says how to get it there.
"""

import dataclasses
import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "ORIGIN",
    "REGISTRY",
    "WeightFile",
    "WeightsError",
    "default_cache_dir",
    "fetch_file",
    "fetch",
    "get",
    "load_weights",
]

#: Where Keras' official weight files live; a mirror replaces this prefix.
ORIGIN = "https://storage.googleapis.com/"
MIRROR_ENV = "KERAS_APPLICATIONS_BN_MIRROR"
OFFLINE_ENV = "KERAS_APPLICATIONS_BN_OFFLINE"

_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class WeightFile:
    """One official file: where it lives, how to check it, what it belongs to.

    Attributes:
        name: registry key, e.g. ``"resnet50_notop"``.
        path: location relative to :data:`ORIGIN` (and to a mirror).
        file_hash: the md5 or sha256 hex digest Keras pins, or ``None`` where Keras
            pins none (every MobileNet file).
        model: the model function the file belongs to (``None`` for data files).
        include_top: whether the file holds the classifier (``None`` for data).
    """

    name: str
    path: str
    file_hash: str | None
    model: str | None = None
    include_top: bool | None = None

    @property
    def fname(self):
        """The file name in the cache (the same as Keras uses)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def url(self):
        """The official URL."""
        return ORIGIN + self.path


def _tf_kernels(family, key, model, top_hash, notop_hash):
    """The two files (with and without top) that most families publish."""
    base = f"tensorflow/keras-applications/{family}/{key}_weights_tf_dim_ordering_tf_kernels"
    return [
        WeightFile(key, f"{base}.h5", top_hash, model, True),
        WeightFile(f"{key}_notop", f"{base}_notop.h5", notop_hash, model, False),
    ]


def _mobilenet_v1():
    files = []
    for alpha, text in ((1.0, "1_0"), (0.75, "7_5"), (0.5, "5_0"), (0.25, "2_5")):
        for size in (128, 160, 192, 224):
            key = f"mobilenet_{text}_{size}"
            base = f"tensorflow/keras-applications/mobilenet/mobilenet_{text}_{size}_tf"
            # Keras pins no hash for any MobileNet file.
            files.append(WeightFile(key, f"{base}.h5", None, "MobileNet", True))
            files.append(
                WeightFile(f"{key}_notop", f"{base}_no_top.h5", None, "MobileNet", False)
            )
    return files


def _build_registry():
    files = [
        WeightFile(
            "imagenet_class_index",
            "download.tensorflow.org/data/imagenet_class_index.json",
            "c2c37ea517e94d9795004a39431a14cb",
        ),
        *_tf_kernels(
            "resnet", "resnet50", "ResNet50",
            "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626",
        ),
        *_tf_kernels(
            "vgg16", "vgg16", "VGG16",
            "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc",
        ),
        *_tf_kernels(
            "vgg19", "vgg19", "VGG19",
            "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6",
        ),
        *_tf_kernels(
            "inception_v3", "inception_v3", "InceptionV3",
            "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63",
        ),
        *_mobilenet_v1(),
    ]
    return {f.name: f for f in files}


#: Every official file this package knows, by name.
REGISTRY = _build_registry()


class WeightsError(OSError):
    """A weight file could not be found, downloaded or verified."""


def get(name):
    """The :class:`WeightFile` registered as ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = sorted(n for n in REGISTRY if n.split("_")[0] == str(name).split("_")[0])
        hint = f" Similar names: {', '.join(close[:8])}." if close else ""
        raise ValueError(
            f"Unknown weight file name={name!r}.{hint} "
            "`python -m keras_applications_bn list` shows every registered file."
        ) from None


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def default_cache_dir():
    """The directory where weight files are cached (created if missing).

    ``$KERAS_HOME/models`` when ``KERAS_HOME`` is set, else ``~/.keras/models``;
    like Keras, ``<tmp>/.keras/models`` when that location is not writable.
    """
    base = os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    path = os.path.join(base, "models")
    os.makedirs(path, exist_ok=True)
    return path


def _hasher(file_hash, argument="file_hash"):
    if file_hash is None:
        return None
    if not isinstance(file_hash, str):
        raise TypeError(f"`{argument}` must be a hex string or None, got {type(file_hash).__name__}.")
    digest = file_hash.strip().lower()
    try:
        int(digest, 16)
    except ValueError:
        digest = ""
    if len(digest) == 32:
        return hashlib.md5()
    if len(digest) == 64:
        return hashlib.sha256()
    raise ValueError(
        f"`{argument}` must be an md5 (32 hex digits) or sha256 (64 hex digits) "
        f"digest, got {file_hash!r}."
    )


def _file_digest(path, file_hash):
    hasher = _hasher(file_hash)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _safe_fname(fname, url):
    if fname is None:
        fname = os.path.basename(urllib.parse.urlsplit(url).path)
    fname = os.fspath(fname)
    if (
        not fname
        or fname in {".", ".."}
        or "/" in fname
        or "\\" in fname
        or "\0" in fname
        or os.path.basename(fname) != fname
    ):
        raise ValueError(
            f"`fname` must be a plain file name inside the cache directory, got {fname!r}; "
            "pass fname='something.h5' (no directories, no '..')."
        )
    return fname


def _apply_mirror(url):
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror and url.startswith(ORIGIN):
        return mirror.rstrip("/") + "/" + url[len(ORIGIN):]
    return url


def _env_help():
    return (
        f"Set {MIRROR_ENV} to a base URL that serves the same relative paths as "
        f"{ORIGIN}, or copy the file into the cache yourself; "
        f"{OFFLINE_ENV}=1 forbids any download."
    )


def fetch_file(url, file_hash=None, cache_dir=None, fname=None):
    """Return the local path of ``url``, downloading it into the cache if needed.

    Args:
        url: where the file lives. URLs under :data:`ORIGIN` are redirected to
            ``$KERAS_APPLICATIONS_BN_MIRROR`` when that is set.
        file_hash: the expected md5 or sha256 hex digest, or ``None`` to accept
            any content. A cached file that does not match is downloaded again; a
            download that does not match is deleted and reported.
        cache_dir: directory to cache into; defaults to :func:`default_cache_dir`.
        fname: file name in the cache; defaults to the last part of the URL path.

    Returns:
        The path of a complete, verified file.

    Raises:
        WeightsError: the file is not cached and cannot be downloaded (offline,
            network error, HTTP error, hash mismatch).
        ValueError/TypeError: a malformed argument.
    """
    if not isinstance(url, str) or not url:
        raise TypeError(f"`url` must be a non-empty string, got {url!r}.")
    _hasher(file_hash)  # validates the digest before any I/O
    fname = _safe_fname(fname, url)
    directory = default_cache_dir() if cache_dir is None else os.fspath(cache_dir)
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, fname)

    if os.path.exists(target):
        if file_hash is None or _file_digest(target, file_hash) == file_hash.lower():
            return target

    source = _apply_mirror(url)
    if _env_flag(OFFLINE_ENV):
        state = "is corrupt (hash mismatch)" if os.path.exists(target) else "is not in the cache"
        raise WeightsError(
            f"{fname} {state} and {OFFLINE_ENV} is set, so it will not be downloaded. "
            f"Expected at {target}. Fetch it on a machine with network access "
            f"(`python -m keras_applications_bn fetch ...` or a download of {url}) "
            f"and copy it there, or unset {OFFLINE_ENV}. {_env_help()}"
        )
    _download(source, target, file_hash)
    return target


def _download(url, target, file_hash):
    """Stream ``url`` into a temp file beside ``target``, verify, then rename."""
    directory = os.path.dirname(target)
    hasher = _hasher(file_hash) or hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        hasher.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError, ValueError) as e:
                raise WeightsError(
                    f"Could not download {url} into {target}: {e}. {_env_help()}"
                ) from e
            out.flush()
            os.fsync(out.fileno())
        if file_hash is not None and hasher.hexdigest() != file_hash.lower():
            raise WeightsError(
                f"Hash mismatch for {url}: expected {file_hash.lower()}, got "
                f"{hasher.hexdigest()}. The download was discarded; nothing was written to "
                f"{target}. Retry, or check that your mirror serves the official file."
            )
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def fetch(name):
    """Download (or find in the cache) the registry file ``name``; return its path."""
    entry = get(name)
    return fetch_file(entry.url, file_hash=entry.file_hash, fname=entry.fname)


def load_weights(model, weights, *, name, include_top=True):
    """Load ``weights`` into ``model``, the way every architecture's ``weights=`` works.

    Args:
        model: the freshly built model.
        weights: ``None`` (keep the random initialisation), ``"imagenet"`` (the
            registry file ``name`` or ``name + "_notop"``), or a path to a weights
            file (legacy ``.h5`` in the official layout, ``.weights.h5`` or
            ``.keras``).
        name: registry key of the top file of this model and configuration.
        include_top: whether the model has its classifier.
    """
    if weights is None:
        return model
    if isinstance(weights, str) and weights == "imagenet":
        path = fetch(name if include_top else f"{name}_notop")
    else:
        path = os.fspath(weights)
    try:
        model.load_weights(path)
    except ValueError as e:
        raise ValueError(
            f"Could not load weights={path!r} into {model.name}: {e} The file must hold the "
            "weights of this architecture with the same include_top and classes."
        ) from e
    return model
