"""``python -m keras_applications_bn``: list, prefetch, verify and locate weight files;
export a model for deployment.

A thin entry point: the weight commands are ``keras_applications_bn.weights.cli``'s,
driven by the registry of weight files; ``export`` is
``keras_applications_bn.export.cli``'s. This module assembles the parser and turns
errors into exit codes.
"""

import argparse
import sys

from keras_applications_bn.export import cli as export_cli
from keras_applications_bn.weights import WeightsError
from keras_applications_bn.weights import cli as weights_cli
from keras_applications_bn.weights.cli import EXIT_FAILED, EXIT_OK

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED", "build_parser", "main"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_DESCRIPTION = """\
Manage the official ImageNet weight files of keras-applications-bn in the Keras
cache ($KERAS_HOME/models, else ~/.keras/models; the same file names as Keras).

NAME is a registry name (resnet50, resnet50_notop, ...), a model name (ResNet50:
every file of that model) or a shell pattern ('mobilenet_1_0_*').
"""

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
    + "".join(f"  {var:<31} {text}\n" for var, text in weights_cli.ENVIRONMENT)
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
            name,
            help=help,
            description=help,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    weights_cli.add_commands(command)
    export_cli.add_command(command)
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
    except (WeightsError, ImportError) as e:
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
