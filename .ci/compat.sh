#!/usr/bin/env bash
# The compatibility stage, `make test-compat` (see CONTRIBUTING.md): for each
# combination named on the command line, in turn, a fresh virtualenv with that
# Python, TensorFlow and Keras, the package installed from this checkout (with
# the `compat` extra: pytest and what the subset imports, nothing else), an import
# of the installed package from outside the checkout, and the tests marked
# `compat` in the files COMPAT_TESTS lists (both set in the Makefile).
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
set -uo pipefail
cd "$(dirname "$0")/.."

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
    rm -rf "$venv"
    start=$SECONDS
    status=install
    if "$python" -m venv "$venv" \
        && "$venv/bin/python" -m pip install --quiet "tensorflow==$tf_pin" "keras==$keras_pin" ".[compat]"; then
        installed=$SECONDS
        status=import
        # the installed package (not this checkout) imports, and the versions are the named ones
        if (cd "$venv" && TF_CPP_MIN_LOG_LEVEL=2 bin/python -c "
import sys, keras, tensorflow, keras_applications_bn as kab
assert kab.__file__.startswith(sys.prefix), kab.__file__
found = (tensorflow.__version__, keras.__version__, '%d.%d' % sys.version_info[:2])
print('installed: tensorflow %s, keras %s, Python %s' % found)
named = ('$tf', '$keras', '$py')
assert all(v == n or v.startswith(n + '.') for v, n in zip(found, named)), (found, named)
"); then
            status=tests
            TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" -m pytest -p no:cacheprovider -m compat \
                $COMPAT_TESTS ${PYTEST_ARGS:-} && status=passed
        fi
        tested=$SECONDS
        times="install $((installed - start)) s, tests $((tested - installed)) s"
    else
        times="install $((SECONDS - start)) s"
    fi
    if [ "$status" = passed ]; then
        SUMMARY+=("$name: passed ($times)")
    else
        SUMMARY+=("$name: FAILED at $status ($times; virtualenv: $venv)")
        failed=1
    fi
done

echo "=== compat summary"
printf '%s\n' "${SUMMARY[@]}"
exit "$failed"
