"""The one registry of official ImageNet weight files, and the one downloader.

Every file that ``weights="imagenet"`` may load is listed in :data:`REGISTRY`,
keyed by a short name (``"resnet50"``, ``"resnet50_notop"``, ...), with the URL
Keras downloads it from and the hash Keras pins for it. :func:`fetch_file`
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
    ``1`` (or ``true``/``yes``/``on``): never touch the network. A file missing
    from the cache is an error that says how to get it there.
``KERAS_APPLICATIONS_BN_TIMEOUT``
    Seconds to wait for the server to connect or send more bytes (default 60).
``KERAS_APPLICATIONS_BN_RETRIES``
    How many times a failed attempt is retried (default 4).
``KERAS_APPLICATIONS_BN_QUIET``
    ``1``: no progress bar (it is shown only when stderr is a terminal anyway).
"""

import dataclasses
import difflib
import errno
import hashlib
import http.client
import ipaddress
import json
import os
import queue
import random
import re
import shutil
import ssl
import stat
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

__all__ = [
    "ORIGIN",
    "ORIGINS",
    "REGISTRY",
    "CacheCheck",
    "WeightFile",
    "WeightsError",
    "cached_path",
    "default_cache_dir",
    "fetch_file",
    "fetch",
    "forget",
    "get",
    "load_weights",
    "resolve_names",
    "verify",
]

#: Where Keras' official weight files live; a mirror replaces this prefix.
ORIGIN = "https://storage.googleapis.com/"
#: Where keras_applications 1.0.8 published the ResNeXt files (release assets).
GITHUB_ORIGIN = "https://github.com/"
#: Every origin of registry files; a mirror replaces any of them.
ORIGINS = (ORIGIN, GITHUB_ORIGIN)
MIRROR_ENV = "KERAS_APPLICATIONS_BN_MIRROR"
OFFLINE_ENV = "KERAS_APPLICATIONS_BN_OFFLINE"
TIMEOUT_ENV = "KERAS_APPLICATIONS_BN_TIMEOUT"
RETRIES_ENV = "KERAS_APPLICATIONS_BN_RETRIES"
QUIET_ENV = "KERAS_APPLICATIONS_BN_QUIET"

DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 4
#: Name of the hidden bookkeeping directory inside a cache directory.
STATE_DIR = ".keras_applications_bn"

_CHUNK = 1 << 20
_BACKOFF_BASE = 0.5  # seconds; doubled after every failed attempt
_BACKOFF_MAX = 8.0
_USER_AGENT = "keras-applications-bn"


@dataclasses.dataclass(frozen=True)
class WeightFile:
    """One official file: where it lives, how to check it, what it belongs to.

    Attributes:
        name: registry key, e.g. ``"resnet50_notop"``.
        path: location relative to ``origin`` (and to a mirror).
        file_hash: the md5 or sha256 hex digest Keras pins, or ``None`` where Keras
            pins none (every MobileNet file).
        model: the model function the file belongs to (``None`` for data files).
        include_top: whether the file holds the classifier (``None`` for data).
        size: the file's size in bytes where known (``None`` otherwise); a download
            whose announced size differs is refused before it starts.
        cache_fname: the file's name in the cache where Keras caches it under
            another name than the URL's (NASNet); ``None`` for the URL's.
        origin: one of :data:`ORIGINS`; :data:`ORIGIN` for Keras' files.
    """

    name: str
    path: str
    file_hash: str | None
    model: str | None = None
    include_top: bool | None = None
    size: int | None = None
    cache_fname: str | None = None
    origin: str = ORIGIN

    @property
    def fname(self):
        """The file name in the cache (the same as Keras uses, so a Keras cache is reused)."""
        return self.cache_fname or self.path.rsplit("/", 1)[-1]

    @property
    def url(self):
        """The official URL."""
        return self.origin + self.path


_KA = "tensorflow/keras-applications"


def _pair(key, model, top, notop, hashes, cache_fnames=(None, None), origin=ORIGIN):
    """The file with the classifier (``key``) and the one without (``key_notop``)."""
    top_hash, notop_hash = hashes
    return [
        WeightFile(key, top, top_hash, model, True, cache_fname=cache_fnames[0], origin=origin),
        WeightFile(
            f"{key}_notop", notop, notop_hash, model, False, cache_fname=cache_fnames[1], origin=origin
        ),
    ]


def _tf_kernels(family, key, model, top_hash, notop_hash):
    """The ``<key>_weights_tf_dim_ordering_tf_kernels[_notop].h5`` pair most families publish."""
    base = f"{_KA}/{family}/{key}_weights_tf_dim_ordering_tf_kernels"
    return _pair(key, model, f"{base}.h5", f"{base}_notop.h5", (top_hash, notop_hash))


# Keras' pins (md5) of the families published as ``..._tf_dim_ordering_tf_kernels``:
# (folder, registry key, model function, with top, without top)
_TF_KERNEL_FILES = [
    ("resnet", "resnet50", "ResNet50",
     "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    ("resnet", "resnet101", "ResNet101",
     "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    ("resnet", "resnet152", "ResNet152",
     "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    ("resnet", "resnet50v2", "ResNet50V2",
     "3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    ("resnet", "resnet101v2", "ResNet101V2",
     "6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    ("resnet", "resnet152v2", "ResNet152V2",
     "a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
    ("vgg16", "vgg16", "VGG16",
     "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
    ("vgg19", "vgg19", "VGG19",
     "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
    ("inception_v3", "inception_v3", "InceptionV3",
     "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63"),
    ("inception_resnet_v2", "inception_resnet_v2", "InceptionResNetV2",
     "e693bd0210a403b3192acc6073ad2e96", "d19885ff4a710c122648d3b5c3b684e4"),
    ("xception", "xception", "Xception",
     "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97"),
    ("densenet", "densenet121", "DenseNet121",
     "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    ("densenet", "densenet169", "DenseNet169",
     "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    ("densenet", "densenet201", "DenseNet201",
     "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
]


def _mobilenet_v1():
    files = []
    for text in ("1_0", "7_5", "5_0", "2_5"):
        for size in (128, 160, 192, 224):
            base = f"{_KA}/mobilenet/mobilenet_{text}_{size}_tf"
            # Keras pins no hash for any MobileNet file.
            files += _pair(
                f"mobilenet_{text}_{size}", "MobileNet", f"{base}.h5", f"{base}_no_top.h5", (None, None)
            )
    return files


def _mobilenet_v2():
    files = []
    for alpha in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
        for rows in (96, 128, 160, 192, 224):
            base = f"{_KA}/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}"
            # Keras pins no hash for any MobileNetV2 file either.
            files += _pair(
                f"mobilenet_v2_{alpha}_{rows}", "MobileNetV2", f"{base}.h5", f"{base}_no_top.h5", (None, None)
            )
    return files


# variant -> (with top, without top), as Keras pins them
_MOBILENET_V3_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": (
        "675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": (
        "99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}


def _mobilenet_v3():
    files = []
    for variant, hashes in _MOBILENET_V3_HASHES.items():
        model = "MobileNetV3Large" if variant.startswith("large") else "MobileNetV3Small"
        base = f"{_KA}/mobilenet_v3/weights_mobilenet_v3_{variant}"
        files += _pair(f"mobilenet_v3_{variant}", model, f"{base}.h5", f"{base}_no_top_v2.h5", hashes)
    return files


def _nasnet():
    # Keras caches these under other names than the URLs'; so do we, to share its cache.
    files = []
    for size, hashes in (
        ("mobile", ("020fb642bf7360b370c678b08e0adf61", "1ed92395b5b598bdda52abe5c0dbfd63")),
        ("large", ("11577c9a518f0070763c2b964a382f17", "d81d89dc07e6e56530c4e77faddd61b5")),
    ):
        base = f"{_KA}/nasnet/NASNet-{size}"
        files += _pair(
            f"nasnet_{size}", f"NASNet{size.capitalize()}", f"{base}.h5", f"{base}-no-top.h5", hashes,
            cache_fnames=(f"nasnet_{size}.h5", f"nasnet_{size}_no_top.h5"),
        )
    return files


_EFFICIENTNET_HASHES = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}

_EFFICIENTNET_V2_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}


def _efficientnet():
    files = []
    for variant, hashes in _EFFICIENTNET_HASHES.items():
        key = f"efficientnet{variant}"  # EfficientNet v1 files live outside tensorflow/
        files += _pair(key, f"EfficientNet{variant.upper()}", f"keras-applications/{key}.h5",
                       f"keras-applications/{key}_notop.h5", hashes)
    for variant, hashes in _EFFICIENTNET_V2_HASHES.items():
        key = f"efficientnetv2-{variant}"
        base = f"{_KA}/efficientnet_v2/{key}"
        files += _pair(key, f"EfficientNetV2{variant.upper()}", f"{base}.h5", f"{base}_notop.h5", hashes)
    return files


# variant -> (with top, without top): Keras pins sha256 digests for these files
_CONVNEXT_HASHES = {
    "tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
             "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "small": ("ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
              "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "base": ("52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
             "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "large": ("070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
              "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "xlarge": ("c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
               "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}


def _convnext():
    files = []
    for variant, hashes in _CONVNEXT_HASHES.items():
        key = f"convnext_{variant}"
        base = f"{_KA}/convnext/{key}"
        model = "ConvNeXt" + ("XLarge" if variant == "xlarge" else variant.capitalize())
        files += _pair(key, model, f"{base}.h5", f"{base}_notop.h5", hashes)
    return files


# keras_applications 1.0.8's pins (md5) of its ResNeXt files, GitHub release assets
_RESNEXT_HASHES = {
    "resnext50": ("67a5b30d522ed92f75a1f16eef299d1a", "62527c363bdd9ec598bed41947b379fc"),
    "resnext101": ("34fb605428fcc7aa4d62f44404c11509", "0f678c91647380debd923963594981b3"),
}


def _resnext():
    files = []
    for key, hashes in _RESNEXT_HASHES.items():
        base = f"keras-team/keras-applications/releases/download/resnet/{key}_weights_tf_dim_ordering_tf_kernels"
        files += _pair(
            key, key.replace("resnext", "ResNeXt"), f"{base}.h5", f"{base}_notop.h5", hashes,
            origin=GITHUB_ORIGIN,
        )
    return files


def _build_registry():
    files = [
        WeightFile(
            "imagenet_class_index",
            "download.tensorflow.org/data/imagenet_class_index.json",
            "c2c37ea517e94d9795004a39431a14cb",
        ),
        *(f for row in _TF_KERNEL_FILES for f in _tf_kernels(*row)),
        *_mobilenet_v1(),
        *_mobilenet_v2(),
        *_mobilenet_v3(),
        *_nasnet(),
        *_efficientnet(),
        *_convnext(),
        *_resnext(),
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
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), REGISTRY, n=8, cutoff=0.6)
        hint = f" Similar names: {', '.join(close[:8])}." if close else ""
        raise ValueError(
            f"Unknown weight file name={name!r}.{hint} "
            "`python -m keras_applications_bn list` shows every registered file."
        ) from None


def resolve_names(patterns):
    """Registry names matching ``patterns``, in registry order, without repeats.

    Each pattern is a registry name (``"resnet50_notop"``), a model name
    (``"ResNet50"``, any case: every file of that model) or a shell-style pattern
    (``"mobilenet_1_0_*"``). A pattern that matches nothing raises ``ValueError``.
    """
    import fnmatch

    if isinstance(patterns, str):
        patterns = [patterns]
    chosen = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise TypeError(f"Weight file names must be non-empty strings, got {pattern!r}.")
        if pattern in REGISTRY:
            matches = [pattern]
        else:
            matches = [
                name
                for name, entry in REGISTRY.items()
                if (entry.model or "").lower() == pattern.lower()
                or fnmatch.fnmatchcase(name, pattern)
            ]
        if not matches:
            get(pattern)  # raises the ValueError with suggestions
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


# --------------------------------------------------------------------------- settings


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _setting(value, argument, env, default, kind):
    """``value`` if given, else ``$env``, else ``default``; checked to be >= 0."""
    source = f"`{argument}`"
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return default
        source = f"${env}"
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{source} must be a {kind.__name__} >= 0, got {raw!r}.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise TypeError(f"{source} must be a {kind.__name__} >= 0, got {value!r}.")
    if value < 0 or (kind is float and value == 0):
        raise ValueError(f"{source} must be a positive {kind.__name__}, got {value!r}.")
    return kind(value)


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
    raw = os.environ.get("KERAS_HOME")
    if raw:
        base, what = os.path.expanduser(raw), "$KERAS_HOME"
    else:
        base, what = os.path.expanduser(os.path.join("~", ".keras")), "The default Keras home"
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


# --------------------------------------------------------------------------- cache layout


def _safe_fname(fname, url):
    if fname is None:
        fname = os.path.basename(urllib.parse.urlsplit(url).path)
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError(f"`fname` must be a string or None, got {type(fname).__name__}.")
    fname = os.fspath(fname)
    if (
        not fname
        or fname in {".", "..", STATE_DIR}
        or "/" in fname
        or "\\" in fname
        or ":" in fname
        or any(ord(c) < 32 for c in fname)
        or os.path.basename(fname) != fname
    ):
        raise ValueError(
            f"`fname` must be a plain file name inside the cache directory, got {fname!r}; "
            "pass fname='something.h5' (no directories, no '..', no control characters)."
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


def _read_json(path):
    try:
        with _open_read(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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


# --------------------------------------------------------------------------- cache safety
#
# A shared cache is hostile ground: anyone who can write to it may plant links,
# hard links, directories or junk. The rules: never follow a symbolic link inside
# the cache (open with O_NOFOLLOW, check lstat), never append to a file that has
# other names, never return a path that resolves outside the cache, and trust a
# file without a pinned hash only once it is a complete HDF5 file.

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
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


# --------------------------------------------------------------------------- manifest


def _manifest(directory):
    """``{fname: record}`` of every verified file in ``directory``."""
    if not _state_dir_is_real(directory):
        return {}
    data = _read_json(os.path.join(directory, STATE_DIR, "manifest.json"))
    return {k: v for k, v in data.get("files", {}).items() if isinstance(v, dict)}


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
    mirror = os.environ.get(MIRROR_ENV, "").strip()
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


def _env_help():
    return (
        f"Set {MIRROR_ENV} to a base URL that serves the same relative paths as "
        f"{' and '.join(ORIGINS)}, or copy the file into the cache yourself; "
        f"{OFFLINE_ENV}=1 forbids any download."
    )


# --------------------------------------------------------------------------- progress


def _format_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class _Progress:
    """A one-line progress bar on ``stream`` (a no-op when disabled)."""

    def __init__(self, label, enabled, stream=None):
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.total = None
        self.done = 0
        self.start_done = 0
        self.start = time.monotonic()
        self.last = 0.0

    def begin(self, done, total):
        self.done = self.start_done = done
        self.total = total
        self.start = time.monotonic()
        self.show(force=True)

    def update(self, n):
        self.done += n
        self.show()

    def show(self, force=False, end=""):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        rate = (self.done - self.start_done) / max(now - self.start, 1e-6)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 20)
            amount = f"[{bar:<20}] {_format_bytes(self.done)}/{_format_bytes(self.total)}"
        else:
            amount = _format_bytes(self.done)
        self.stream.write(f"\r{self.label}: {amount} {_format_bytes(rate)}/s{end}")
        self.stream.flush()

    def finish(self):
        self.show(force=True, end="\n")


def _progress_enabled(progress):
    if progress is None:
        return not _env_flag(QUIET_ENV) and sys.stderr is not None and sys.stderr.isatty()
    if not isinstance(progress, bool):
        raise TypeError(f"`progress` must be True, False or None (automatic), got {progress!r}.")
    return progress


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
            info.get("url") == self.source
            and info.get("expected") == wanted
            and self._part_is_resumable()
        ):
            self.info = info
            self.hasher = _hash_file(self.part, self.algorithm)
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
            free = _free_bytes(self.directory)
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
        timeout: seconds to wait for the server to connect or send more bytes
            (default ``$KERAS_APPLICATIONS_BN_TIMEOUT`` or 60).
        retries: how often a failed attempt (connection error, timeout, HTTP 5xx,
            truncated body) is retried with backoff (default
            ``$KERAS_APPLICATIONS_BN_RETRIES`` or 4). HTTP 4xx answers and hash
            mismatches are never retried.
        progress: ``True``/``False`` to show or hide the progress bar on stderr;
            ``None`` shows it when stderr is a terminal and
            ``$KERAS_APPLICATIONS_BN_QUIET`` is not set.

    Returns:
        The path of a complete, verified file.

    Raises:
        WeightsError: the file is not cached and cannot be downloaded (offline,
            network error, HTTP error, hash mismatch).
        ValueError/TypeError: a malformed argument or environment variable.
    """
    return _fetch(url, file_hash, cache_dir, fname, timeout, retries, progress, None)


def _fetch(url, file_hash, cache_dir, fname, timeout, retries, progress, entry):
    if not isinstance(url, str) or not url:
        raise TypeError(f"`url` must be a non-empty string, got {url!r}.")
    pinned = _parse_digest(file_hash)
    fname = _safe_fname(fname, url)
    timeout = _setting(timeout, "timeout", TIMEOUT_ENV, DEFAULT_TIMEOUT, float)
    retries = _setting(retries, "retries", RETRIES_ENV, DEFAULT_RETRIES, int)
    show = _progress_enabled(progress)
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
        if _env_flag(OFFLINE_ENV) and first.status == "missing":
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
    if _env_flag(OFFLINE_ENV):
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


def fetch(name, *, cache_dir=None, timeout=None, retries=None, progress=None):
    """Download (or find in the cache) the registry file ``name``; return its path.

    Keyword arguments are those of :func:`fetch_file`.
    """
    entry = get(name)
    return _fetch(
        entry.url, entry.file_hash, cache_dir, entry.fname, timeout, retries, progress, entry
    )


def cached_path(name, *, cache_dir=None):
    """Where the registry file ``name`` lives in the cache (whether or not it is there)."""
    return os.path.join(_cache_directory(cache_dir), get(name).fname)


def verify(names=None, *, cache_dir=None):
    """Re-hash cached files and return one :class:`CacheCheck` per file.

    With ``names=None`` it checks every registry file and every other file the
    manifest knows (files fetched by URL); otherwise the registry files matching
    ``names`` (see :func:`resolve_names`). Files that pass are recorded (files
    without a pinned hash are trusted from their first check on); corrupt files
    are reported, left in place, and replaced by the next ``fetch``.
    """
    directory = _cache_directory(cache_dir)
    selected = REGISTRY.keys() if names is None else resolve_names(names)
    results = []
    seen = set()
    for name in selected:
        entry = REGISTRY[name]
        results.append(
            _check_cached(directory, entry.fname, _parse_digest(entry.file_hash), force=True, name=name)
        )
        seen.add(entry.fname)
    if names is None:
        for fname in sorted(set(_manifest(directory)) - seen):
            results.append(_check_cached(directory, fname, None, force=True))
    return results


def forget(name, *, cache_dir=None):
    """Drop the record of a registry file (or cached file name) and delete the file.

    Use it when a file without a pinned hash legitimately changed upstream: the
    next fetch downloads it again and trusts that download. Returns ``True`` when
    there was something to drop (a registry file that is not cached: ``False``).

    Raises:
        ValueError: ``name`` is neither a registry name nor a file in the cache.
        WeightsError: the cache cannot be written (read-only).
    """
    directory = _cache_directory(cache_dir)
    fname = _forget_target(name, directory)
    path = os.path.join(directory, fname)
    try:
        with _FileLock(_state_path(directory, "files", fname + ".lock")):
            known = fname in _manifest(directory)
            if known:
                _update_manifest(directory, fname, None)
            existed = os.path.lexists(path)
            _remove_entry(path)
    except OSError as e:
        if isinstance(e, WeightsError) or e.errno not in _READ_ONLY_ERRNOS:
            raise
        raise WeightsError(
            f"Cannot forget {name}: the cache directory {directory} cannot be written "
            f"({e.strerror})."
        ) from None
    return known or existed


def _forget_target(name, directory):
    """The cache file name :func:`forget` acts on; ``ValueError`` for an unknown name."""
    if isinstance(name, str) and name in REGISTRY:
        return REGISTRY[name].fname
    fname = _safe_fname(name, "")
    if fname in _manifest(directory) or os.path.lexists(os.path.join(directory, fname)):
        return fname
    try:
        get(name)  # the error with similar registry names
    except ValueError as e:
        raise ValueError(f"{e} No file named {fname!r} is in the cache {directory} either.") from None
    return fname  # pragma: no cover - get() raised


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
        cached = name if include_top else f"{name}_notop"
        path = fetch(cached)
    else:
        path = os.fspath(weights)
    problem = _weights_file_problem(path)
    if problem:
        raise _unreadable_weights(path, problem, cached)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except ValueError as e:
            raise ValueError(_mismatch_message(model, path, e)) from None
        except OSError as e:  # h5py: a damaged file that passed the quick checks
            raise _unreadable_weights(path, f"cannot be read as weights ({e})", cached) from None
    for w in caught:  # the load worked: pass Keras' own warnings on
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model


def _weights_file_problem(path):
    """Why the file at ``path`` cannot be a weights file, before h5py or Keras see it."""
    lower = path.lower()
    if lower.endswith(".keras"):
        import zipfile

        if not zipfile.is_zipfile(path):
            return "is not a .keras archive (not a zip file)"
        return None
    if lower.endswith(_HDF5_SUFFIXES):
        return _hdf5_problem(path, deep=False)
    return None


def _unreadable_weights(path, problem, cached):
    if cached:
        return WeightsError(
            f"The cached weights file {path} {problem}. Run `python -m keras_applications_bn "
            f"verify {cached}` to check it and `python -m keras_applications_bn fetch {cached}` "
            f"to replace it (`forget {cached}` first if it has no pinned hash)."
        )
    return ValueError(
        f"Could not load weights={path!r}: the file {problem}. Pass the path of a complete "
        "weights file (saved with `model.save_weights(...)` or `model.save(...)`), "
        "'imagenet', or None."
    )


def _describe_saved(path):
    """What the weights file ``path`` holds, in words: the model's name and class where
    the file says (``.keras`` archives, full-model ``.h5`` files), else how many
    weight tensors it has."""
    try:
        if path.lower().endswith(".keras"):
            import zipfile

            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
        else:
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
                if raw is None:
                    tensors = []
                    f.visititems(lambda _, obj: tensors.append(1) if isinstance(obj, h5py.Dataset) else None)
                    return f"another architecture ({len(tensors)} weight tensors)"
                config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        inner = config.get("config") or {}
        return f"the model {inner.get('name')!r} ({config.get('class_name')})"
    except Exception:  # any unreadable detail: describe the file without it
        return "another architecture"


def _mismatch_message(model, path, error):
    """One readable error for weights that do not fit ``model`` (no arrays dumped)."""
    text = str(error)
    detail = ""
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    if shapes:
        detail = f" (e.g. a variable of shape {shapes.group(1)} received {shapes.group(2)})"
    elif "expected" in text and "variables" in text:
        detail = " (its layers hold other numbers of variables)"
    else:
        first = text.strip().splitlines()[0] if text.strip() else ""
        detail = f" ({first[:200]})" if first else ""
    source = _describe_saved(path)
    return (
        f"Could not load weights={path!r} into {model.name!r} ({type(model).__name__}, "
        f"{len(model.weights)} weight tensors): the file holds the weights of {source}, "
        f"which do not fit{detail}. The file must hold the weights of this architecture "
        "with the same include_top, classes and alpha (or other size arguments)."
    )
