#!/usr/bin/env bash
# The compatibility stage, `make test-compat` (see CONTRIBUTING.md): for each
# combination named on the command line, in turn, a fresh virtualenv with that
# Python, TensorFlow and Keras, the package installed from this checkout (with
# the `compat` extra: pytest, pytest-xdist (COMPAT_JOBS workers, default 2) and
# what the subset imports, nothing else), an import
# of the installed package from outside the checkout, and the tests marked
# `compat` in the files COMPAT_TESTS lists (both set in the Makefile).
# The tests run with KAB_COMPAT_STAGE=<the combination's name> (tests/architectures.py
# reads it: the compiled-output comparisons there run on two families, not all).
#
# A combination is named tf<V>-keras<V>-py<X.Y>, V being X.Y.Z (that release) or
# X.Y (its newest patch release on the package index): tf2.18-keras3.8-py3.12 is
# tensorflow==2.18.*, keras==3.8.* on Python 3.12, tf2.16.1-keras3.3.3-py3.10 is
# tensorflow==2.16.1, keras==3.3.3 on Python 3.10. Python X.Y is found as pythonX.Y
# on PATH or in pyenv's versions (COMPAT_PYTHON overrides it for one combination). Its
# virtualenv, .venv-compat/<name>, is made afresh (an old one is removed first) and
# kept afterwards, for a look after a failure (removing a TensorFlow virtualenv took
# over a minute here; `make clean` removes them). Every combination runs even if one
# fails; the stage fails if any did, and prints each one's install and test times.
#
# Two phases, for CI (.ci/run), which installs while other stages run: with
# COMPAT_PHASE=install each virtualenv is made and checked (the import below) and marked
# ready, and no test runs; with COMPAT_PHASE=test a virtualenv marked ready by this
# run's install phase is used as it is (one not ready is made afresh). The default
# (COMPAT_PHASE unset) does both, afresh.
set -uo pipefail
cd "$(dirname "$0")/.."
# pip installs no bytecode (--no-compile, below), and Python writes the bytecode of
# what is imported as it is first imported (the install phase's import check, then the
# tests): a combination's processes import a part of TensorFlow, so compiling every
# module at install time (about 25 s of CPU a virtualenv, measured, beside the fast
# lane in CI) is mostly work nothing reads. Some machines set PYTHONDONTWRITEBYTECODE,
# which would make every process compile what it imports again.
unset PYTHONDONTWRITEBYTECODE

if [ "$#" -eq 0 ]; then
    echo "usage: $0 tf<V>-keras<V>-py<X.Y>... (V: X.Y or X.Y.Z)" >&2
    exit 2
fi
: "${COMPAT_TESTS:?COMPAT_TESTS (the files with compat tests) is set by the Makefile}"

find_python() {  # $1: X.Y; prints the interpreter's path
    local version=$1 candidate
    if [ -n "${COMPAT_PYTHON:-}" ]; then
        echo "$COMPAT_PYTHON"
        return
    fi
    if command -v "python$version" >/dev/null && "python$version" -c "" 2>/dev/null; then
        command -v "python$version"
        return
    fi
    if command -v pyenv >/dev/null; then
        # the newest installed patch release of X.Y
        candidate=$(ls -d "$(pyenv root)/versions/$version".* 2>/dev/null | sort -V | tail -n 1)
        if [ -n "$candidate" ] && [ -x "$candidate/bin/python$version" ]; then
            echo "$candidate/bin/python$version"
            return
        fi
    fi
    return 1
}

# The package is installed from a copy of the checkout's files (tracked, and untracked
# but not ignored), so that building it never writes into the checkout (build/,
# *.egg-info) while other stages run there.
SOURCE=$(mktemp -d "${TMPDIR:-/tmp}/kab-compat-src.XXXXXX")
trap 'rm -rf "$SOURCE"' EXIT
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$SOURCE"

# pytest-xdist workers for a combination's tests: COMPAT_JOBS (default 2), or 1 while the
# process COMPAT_BESIDE names (CI's export stage, which takes one core) still runs.
compat_jobs() {
    if [ -n "${COMPAT_BESIDE:-}" ] && kill -0 "$COMPAT_BESIDE" 2>/dev/null; then
        echo 1
    else
        echo "${COMPAT_JOBS:-2}"
    fi
}

declare -a SUMMARY
failed=0
for name in "$@"; do
    version='([0-9]+\.[0-9]+(\.[0-9]+)?)'
    if [[ ! "$name" =~ ^tf${version}-keras${version}-py([0-9]+\.[0-9]+)$ ]]; then
        echo "compat: '$name' is not a combination name (tf<V>-keras<V>-py<X.Y>, V: X.Y or X.Y.Z, e.g. tf2.18-keras3.8-py3.12)" >&2
        exit 2
    fi
    tf=${BASH_REMATCH[1]} keras=${BASH_REMATCH[3]} py=${BASH_REMATCH[5]}
    # X.Y: its newest patch release; X.Y.Z: that release
    tf_pin=$tf keras_pin=$keras
    [[ "$tf" == *.*.* ]] || tf_pin="$tf.*"
    [[ "$keras" == *.*.* ]] || keras_pin="$keras.*"
    echo "=== compat $name: Python $py, tensorflow==$tf_pin, keras==$keras_pin"
    if ! python=$(find_python "$py"); then
        echo "compat $name: no Python $py (no working python$py on PATH, none in pyenv's versions); install it or set COMPAT_PYTHON" >&2
        SUMMARY+=("$name: FAILED (no Python $py)")
        failed=1
        continue
    fi
    venv=".venv-compat/$name"
    start=$SECONDS
    status=install
    ready=0
    if [ "${COMPAT_PHASE:-}" = test ] && [ -f "$venv/.compat-ready" ]; then
        ready=1
        echo "compat $name: the virtualenv made by this run's install phase"
    else
        rm -rf "$venv"
    fi
    if [ "$ready" = 1 ] || { "$python" -m venv "$venv" \
        && "$venv/bin/python" -m pip install --quiet --no-compile "tensorflow==$tf_pin" "keras==$keras_pin" "$SOURCE[compat]"; }; then
        installed=$SECONDS
        status=import
        # the installed package (not this checkout) imports, and the versions are the named ones
        if [ "$ready" = 1 ] || (cd "$venv" && TF_CPP_MIN_LOG_LEVEL=2 bin/python -c "
import sys, keras, tensorflow, keras_applications_bn as kab
assert kab.__file__.startswith(sys.prefix), kab.__file__
found = (tensorflow.__version__, keras.__version__, '%d.%d' % sys.version_info[:2])
print('installed: tensorflow %s, keras %s, Python %s' % found)
named = ('$tf', '$keras', '$py')
assert all(v == n or v.startswith(n + '.') for v, n in zip(found, named)), (found, named)
"); then
            status=tests
            if [ "${COMPAT_PHASE:-}" = install ]; then
                touch "$venv/.compat-ready"
                status=passed
            else
                KAB_COMPAT_STAGE=$name TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" -m pytest -p no:cacheprovider -n "$(compat_jobs)" -m compat \
                    $COMPAT_TESTS ${PYTEST_ARGS:-} && status=passed
            fi
        fi
        tested=$SECONDS
        times="install $((installed - start)) s, tests $((tested - installed)) s"
    else
        times="install $((SECONDS - start)) s"
    fi
    if [ "$status" = passed ] && [ "${COMPAT_PHASE:-}" = install ]; then
        SUMMARY+=("$name: installed and imported ($times)")
    elif [ "$status" = passed ]; then
        SUMMARY+=("$name: passed ($times)")
    else
        SUMMARY+=("$name: FAILED at $status ($times; virtualenv: $venv)")
        failed=1
    fi
done

echo "=== compat summary"
printf '%s\n' "${SUMMARY[@]}"
exit "$failed"
