"""The weight commands of ``python -m keras_applications_bn``: list, fetch, verify,
path and forget, each driven by the registry (``weights.REGISTRY``).

``add_commands`` adds them to the command line's parser; each command returns its
exit code (``EXIT_OK`` or ``EXIT_FAILED``) and lets usage errors (``ValueError``)
and cache errors (``WeightsError``) reach ``main``, which reports them.
"""

import os
import sys
import warnings

from keras_applications_bn import weights
from keras_applications_bn.weights import cache, integrity, settings
from keras_applications_bn.weights.progress import format_bytes

#: The exit code of a command that worked.
EXIT_OK = 0
#: The exit code of a command that failed (a download, a check, a file not cached).
EXIT_FAILED = 1

#: ``(variable, what it does)`` of every environment variable the commands read,
#: for the command line's help.
ENVIRONMENT = [
    ("KERAS_HOME", "cache root (files live in $KERAS_HOME/models)"),
    (settings.MIRROR_ENV, f"base URL replacing {' and '.join(weights.ORIGINS)}"),
    (settings.OFFLINE_ENV, "1/true/yes/on: never download"),
    (
        settings.TIMEOUT_ENV,
        f"seconds to wait for the server, at most {settings.MAX_TIMEOUT:g} "
        f"(default {settings.DEFAULT_TIMEOUT:g})",
    ),
    (settings.RETRIES_ENV, f"retries after a failed attempt (default {settings.DEFAULT_RETRIES})"),
    (settings.QUIET_ENV, "1/true/yes/on: no progress bar"),
]


def _size(n):
    return "-" if n is None else format_bytes(n)


def _hash_kind(entry):
    digest = integrity.parse_digest(entry.file_hash)
    return f"{digest.algorithm} pinned" if digest else "first-use"


def _cmd_list(args):
    directory = weights.default_cache_dir()
    names = weights.resolve_names(args.names) if args.names else list(weights.REGISTRY)
    rows = []
    for name in names:
        entry = weights.REGISTRY[name]
        path = os.path.join(directory, entry.fname)
        cached = os.path.isfile(path) and not os.path.islink(path)  # a link is not trusted
        if args.cached and not cached:
            continue
        size = os.path.getsize(path) if cached else entry.size
        top = {True: "top", False: "notop", None: "-"}[entry.include_top]
        rows.append(
            (
                name,
                entry.model or "-",
                top,
                _hash_kind(entry),
                "yes" if cached else "no",
                _size(size),
            )
        )
    header = ("NAME", "MODEL", "TOP", "HASH", "CACHED", "SIZE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    cached = sum(r[4] == "yes" for r in rows)
    print(f"\n{len(rows)} file(s), {cached} cached in {directory}")
    return EXIT_OK


def _cmd_fetch(args):
    if not args.names and not args.all:
        raise ValueError("fetch needs at least one NAME, or --all.")
    names = list(weights.REGISTRY) if args.all else weights.resolve_names(args.names)
    failed = []
    for name in names:
        try:
            path = weights.fetch(name, progress=False if args.quiet else None)
        except weights.WeightsError as e:
            failed.append(name)
            print(f"FAILED  {name}: {e}", file=sys.stderr)
        else:
            print(f"ok      {name}  {path}")
    if failed:
        print(f"{len(failed)} of {len(names)} file(s) failed: {' '.join(failed)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _report(check):
    """Print the line of one checked file; return whether it is a problem."""
    label = check.name or check.fname
    if check.status == "ok":
        how = "pinned" if check.trust == "pinned" else "trusted on first use"
        note = " (recorded now)" if check.recorded_now else ""
        print(f"OK       {label}  {check.algorithm} {how}{note}")
        return False
    if check.status == "corrupt":
        if check.expected is not None and check.actual not in (None, check.expected):
            what = f"expected {check.algorithm} {check.expected}, got {check.actual}"
            if check.reason:
                what += f"; it {check.reason}"
        else:
            what = f"it {check.reason}"
        print(
            f"CORRUPT  {label}  {check.path}: {what}. "
            f"`python -m keras_applications_bn fetch {label}` replaces it."
        )
    else:
        print(f"MISSING  {label}  not cached ({check.path})")
    return True


def _cmd_verify(args):
    directory = weights.default_cache_dir()
    damaged = cache.read_manifest(directory)[1]  # before verify rewrites the manifest
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", weights.ManifestWarning)  # reported below
        checks = weights.verify(args.names or None)
    manifest = os.path.join(directory, cache.STATE_DIR, "manifest.json")
    for problem in damaged:
        print(
            f"DAMAGED  {manifest}: {problem}; ignored (never followed; dropped at its next write)."
        )
    bad = len(damaged)
    for check in checks:
        if check.status == "missing" and not args.names:
            continue
        bad += _report(check)
    present = [c for c in checks if c.status != "missing"]
    pinned = sum(c.trust == "pinned" for c in present)
    print(
        f"\n{len(present)} cached file(s) checked: {pinned} pinned, "
        f"{len(present) - pinned} trusted on first use; {bad} problem(s)."
    )
    return EXIT_FAILED if bad else EXIT_OK


def _cmd_path(args):
    path = weights.cached_path(args.name)
    print(path)
    if not os.path.isfile(path) or os.path.islink(path):
        print(
            f"{args.name} is not cached; `python -m keras_applications_bn fetch {args.name}` "
            "downloads it.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _cmd_forget(args):
    directory = weights.default_cache_dir()
    for name in args.names:  # every name is checked before anything is deleted
        cache.forget_target(name, directory)
    for name in args.names:
        dropped = weights.forget(name)
        print(f"{'forgot' if dropped else 'nothing to forget for'}  {name}")
    return EXIT_OK


def add_commands(command):
    """Add the weight commands to the command line.

    Args:
        command: ``command(name, help, func)`` adds the sub-command ``name`` that
            runs ``func(args)`` and returns its ``argparse`` parser.
    """
    p = command("list", "list every registered weight file: cached or not, size", _cmd_list)
    p.add_argument("names", nargs="*", metavar="NAME", help="only these (default: all)")
    p.add_argument("--cached", action="store_true", help="only files in the cache")

    p = command("fetch", "download files into the cache (prefetch for offline use)", _cmd_fetch)
    p.add_argument("names", nargs="*", metavar="NAME", help="files to fetch")
    p.add_argument("--all", action="store_true", help="every registered file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = command("verify", "re-hash cached files against pinned or first-use hashes", _cmd_verify)
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="files to check (default: every cached file); a named file that is missing fails",
    )

    p = command("path", "print where a file lives in the cache (exit 1 if not cached)", _cmd_path)
    p.add_argument("name", metavar="NAME", help="a registry name, e.g. resnet50_notop")

    p = command(
        "forget",
        "delete a file and its trust record (after a legitimate upstream change)",
        _cmd_forget,
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="registry names or cached file names")
