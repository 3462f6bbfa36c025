"""``python -m keras_applications_bn``: list, prefetch, verify and locate weight files;
export a model for deployment (``export``, see :mod:`keras_applications_bn.export.deploy`).

A thin command line over :mod:`keras_applications_bn.weights`; every command is
driven by :data:`~keras_applications_bn.weights.REGISTRY`.
"""

import argparse
import os
import sys
import warnings

from keras_applications_bn import weights
from keras_applications_bn.weights import cache, integrity
from keras_applications_bn.weights.progress import format_bytes

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_DESCRIPTION = """\
Manage the official ImageNet weight files of keras-applications-bn in the Keras
cache ($KERAS_HOME/models, else ~/.keras/models; the same file names as Keras).

NAME is a registry name (resnet50, resnet50_notop, ...), a model name (ResNet50:
every file of that model) or a shell pattern ('mobilenet_1_0_*').
"""

_ENVIRONMENT = [
    ("KERAS_HOME", "cache root (files live in $KERAS_HOME/models)"),
    (weights.MIRROR_ENV, f"base URL replacing {' and '.join(weights.ORIGINS)}"),
    (weights.OFFLINE_ENV, "1/true/yes/on: never download"),
    (
        weights.TIMEOUT_ENV,
        f"seconds to wait for the server, at most {weights.settings.MAX_TIMEOUT:g} "
        f"(default {weights.DEFAULT_TIMEOUT:g})",
    ),
    (weights.RETRIES_ENV, f"retries after a failed attempt (default {weights.DEFAULT_RETRIES})"),
    (weights.QUIET_ENV, "1/true/yes/on: no progress bar"),
]

_EPILOG = (
    """\
exit codes:
  0    success
  1    a fetch failed, verify found a corrupt (or requested but missing) file
       or a damaged manifest record, `path` names a file that is not cached, or
       an export failed (e.g. its optional extra is not installed)
  2    usage error (bad option, unknown NAME, a bad environment variable, a
       MODEL_FILE that is not a Keras model, an export output that exists
       without --overwrite or that is MODEL_FILE itself)
  130  interrupted (Ctrl-C); a partial download resumes on the next fetch

environment:
"""
    + "".join(f"  {var:<31} {text}\n" for var, text in _ENVIRONMENT)
    + """  (a yes/no variable is off when unset, empty, 0, false, no or off; any other
  value than these and 1/true/yes/on is refused)

examples:
  python -m keras_applications_bn list --cached
  python -m keras_applications_bn fetch ResNet50 imagenet_class_index
  KERAS_HOME=/shared/keras python -m keras_applications_bn fetch --all
  python -m keras_applications_bn verify
  python -m keras_applications_bn path resnet50_notop
  python -m keras_applications_bn export finetuned.keras --to tflite --fold-bn
"""
)


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
            (name, entry.model or "-", top, _hash_kind(entry), "yes" if cached else "no", _size(size))
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


def _cmd_verify(args):
    directory = weights.default_cache_dir()
    damaged = cache.read_manifest(directory)[1]  # before verify rewrites the manifest
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", weights.ManifestWarning)  # reported below
        checks = weights.verify(args.names or None)
    manifest = os.path.join(directory, weights.STATE_DIR, "manifest.json")
    for problem in damaged:
        print(f"DAMAGED  {manifest}: {problem}; ignored (never followed; dropped at its next write).")
    bad = len(damaged)
    for check in checks:
        if check.status == "missing" and not args.names:
            continue
        label = check.name or check.fname
        if check.status == "ok":
            how = "pinned" if check.trust == "pinned" else "trusted on first use"
            note = " (recorded now)" if check.recorded_now else ""
            print(f"OK       {label}  {check.algorithm} {how}{note}")
        elif check.status == "corrupt":
            bad += 1
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
            bad += 1
            print(f"MISSING  {label}  not cached ({check.path})")
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


def _cmd_export(args):
    # imported here: the weight commands must not pay for TensorFlow's import
    from keras_applications_bn.export import deploy

    return deploy.export_command(
        args.model_file, args.to, fold_bn=args.fold_bn, output=args.output,
        moving_statistics=args.moving_statistics, overwrite=args.overwrite,
    )


def build_parser():
    """The command line's argument parser, one sub-command per tool.

    Returns:
        An ``argparse.ArgumentParser``; each sub-command sets ``func``, the
        function that runs it.
    """
    parser = argparse.ArgumentParser(
        prog="python -m keras_applications_bn",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, help, func):  # noqa: A002 - argparse's own word
        p = sub.add_parser(
            name, help=help, description=help, epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = command("list", "list every registered weight file: cached or not, size", _cmd_list)
    p.add_argument("names", nargs="*", metavar="NAME", help="only these (default: all)")
    p.add_argument("--cached", action="store_true", help="only files in the cache")

    p = command("fetch", "download files into the cache (prefetch for offline use)", _cmd_fetch)
    p.add_argument("names", nargs="*", metavar="NAME", help="files to fetch")
    p.add_argument("--all", action="store_true", help="every registered file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = command("verify", "re-hash cached files against pinned or first-use hashes", _cmd_verify)
    p.add_argument(
        "names", nargs="*", metavar="NAME",
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

    p = command("export", "write a saved Keras model for deployment (BN folded with --fold-bn)", _cmd_export)
    p.add_argument("model_file", metavar="MODEL_FILE", help="a .keras or .h5 model file")
    p.add_argument(
        "--to", required=True, choices=["keras", "savedmodel", "tflite", "onnx"],
        help="keras: .keras with Keras' own classes; savedmodel: TensorFlow SavedModel; "
        "tflite: TFLite flatbuffer; onnx: ONNX (needs the onnx extra)",
    )
    p.add_argument("--fold-bn", action="store_true", help="fold BatchNormalization into the layer before it")
    p.add_argument(
        "--moving-statistics", action="store_true",
        help="with --fold-bn: also fold BN layers that are not pinned, with their moving statistics",
    )
    p.add_argument(
        "-o", "--output", metavar="OUT",
        help="output path (default: next to MODEL_FILE, e.g. NAME.export.keras, "
        "NAME_folded.tflite, NAME_savedmodel); never MODEL_FILE itself",
    )
    p.add_argument(
        "--overwrite", action="store_true",
        help="replace OUT if it exists (written beside it first, then moved into place)",
    )
    return parser


def main(argv=None):
    """Run the command line.

    Args:
        argv: the arguments (without the program name); ``None`` for
            ``sys.argv[1:]``.

    Returns:
        The exit code: 0 when it worked, 1 when it failed (network, cache, a
        missing extra), 2 for a usage error, 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as e:
        print(f"{parser.prog} {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (weights.WeightsError, ImportError) as e:
        print(f"{parser.prog} {args.command}: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as e:  # the file system said no (full, read-only, ...): no traceback
        print(f"{parser.prog} {args.command}: {e}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
