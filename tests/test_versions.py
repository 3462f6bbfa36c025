"""The supported Keras and TensorFlow versions: an unsupported one is refused at
import with an ImportError that names the versions found and needed, and the
floors are the same in setup.py, the import check and the compatibility stage."""

import ast
import json
import re

import pytest

from keras_applications_bn._models import versions

from conftest import REPO_ROOT, run_python


@pytest.mark.compat
@pytest.mark.parametrize(
    "found",
    [
        {"keras": "3.3.3", "tensorflow": "2.16.1"},
        {"keras": "3.4.1", "tensorflow": "2.17.0"},
        {"keras": "3.15.1", "tensorflow": "2.21.0"},
        {"keras": "3.16.0.dev2026010100", "tensorflow": "2.22.0rc0"},
        {"keras": "4.0.0", "tensorflow": "3.0.0"},
        {"keras": "3.4.1", "tensorflow": None},  # the JAX and PyTorch backends need no TensorFlow
    ],
    ids=str,
)
def test_supported_versions_pass(found):
    versions.check_versions(found)


@pytest.mark.compat
@pytest.mark.parametrize(
    "found, upgrade",
    [
        ({"keras": "3.0.5", "tensorflow": "2.16.1"}, '"keras>=3.3.3"'),
        ({"keras": "3.3.2", "tensorflow": None}, '"keras>=3.3.3"'),
        ({"keras": "2.15.0", "tensorflow": "2.15.1"}, '"keras>=3.3.3" "tensorflow>=2.16.1"'),
        ({"keras": "3.3.3", "tensorflow": "2.15.0"}, '"tensorflow>=2.16.1"'),
        ({"keras": None, "tensorflow": "2.16.1"}, '"keras>=3.3.3"'),
    ],
    ids=str,
)
def test_unsupported_versions_are_named_with_what_is_needed(found, upgrade):
    with pytest.raises(ImportError) as info:
        versions.check_versions(found)
    message = str(info.value)
    assert "needs Keras >= 3.3.3 and TensorFlow >= 2.16.1" in message
    for module, name in (("keras", "Keras"), ("tensorflow", "TensorFlow")):
        if found[module] is not None:
            assert f"{name} {found[module]}" in message
    if found["keras"] is None:
        assert "found no Keras" in message
    assert f"pip install --upgrade {upgrade}`" in message


@pytest.mark.compat
def test_import_refuses_an_unsupported_version_before_importing_keras():
    """In a fresh process whose installed Keras (then TensorFlow) looks too old to
    the distribution metadata: ``import keras_applications_bn`` raises the
    package's ImportError, raised in _models/versions.py, and Keras is never
    imported (so its own import cannot fail first)."""
    code = """
import importlib.metadata, json, sys, traceback
real = importlib.metadata.version
result = {}
for fake in ({"keras": "3.0.5"}, {"tensorflow": "2.15.1"}):
    importlib.metadata.version = lambda name, fake=fake: fake.get(name.split("-")[0], None) or real(name)
    try:
        import keras_applications_bn
        result[str(fake)] = "imported"
    except ImportError as error:
        frames = traceback.extract_tb(error.__traceback__)
        result[str(fake)] = [str(error), frames[-1].filename, "keras" in sys.modules]
print("RESULT" + json.dumps(result))
"""
    result = json.loads(run_python(code).stdout.split("RESULT", 1)[1])
    keras_message, keras_raised_in, keras_imported = result[str({"keras": "3.0.5"})]
    assert (
        "needs Keras >= 3.3.3" in keras_message
        and "found Keras 3.0.5 and TensorFlow" in keras_message
    )
    tf_message, tf_raised_in, tf_imported = result[str({"tensorflow": "2.15.1"})]
    assert "TensorFlow >= 2.16.1" in tf_message and "TensorFlow 2.15.1" in tf_message
    for raised_in in (keras_raised_in, tf_raised_in):
        assert raised_in.endswith("versions.py"), raised_in
    assert not keras_imported and not tf_imported


@pytest.mark.compat
def test_import_reads_the_version_of_an_already_imported_keras():
    """With Keras (and TensorFlow) already imported, their ``__version__`` is what
    is checked: a Keras that says 3.0.5 is refused, then TensorFlow 2.15.0, and
    with the real versions restored the package imports."""
    code = """
import json, keras, tensorflow
result = []
for module, fake in ((keras, "3.0.5"), (tensorflow, "2.15.0")):
    real, module.__version__ = module.__version__, fake
    try:
        import keras_applications_bn
        result.append("imported")
    except ImportError as error:
        result.append(str(error))
    module.__version__ = real
import keras_applications_bn
result.append(keras_applications_bn.__version__)
print("RESULT" + json.dumps(result))
"""
    keras_error, tf_error, imported = json.loads(run_python(code).stdout.split("RESULT", 1)[1])
    assert "Keras 3.0.5" in keras_error and '"keras>=3.3.3"' in keras_error
    assert "TensorFlow 2.15.0" in tf_error and '"tensorflow>=2.16.1"' in tf_error
    assert re.fullmatch(r"\d+\.\d+\.\d+", imported)


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("3.4.1", (3, 4, 1)),
        ("2.21.0rc0", (2, 21, 0)),
        ("3.16.0.dev2026", (3, 16, 0)),
        ("v3.10", (3, 10, 0)),
        ("unknown", None),
    ],
)
def test_parse(text, parsed):
    assert versions.parse(text) == parsed


# -- the declared range is the tested range ---------------------------------------------


def _setup_call():
    tree = ast.parse((REPO_ROOT / "setup.py").read_text(encoding="utf-8"))
    call = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"
    )
    return {keyword.arg: keyword.value for keyword in call.keywords}


def _floor(requirements, name):
    for requirement in requirements:
        match = re.fullmatch(rf"{name}>=([\d.]+)(?:,.*)?", requirement)
        if match:
            return versions.parse(match.group(1))
    raise AssertionError(f"setup.py declares no floor for {name}: {requirements}")


def _makefile_list(variable):
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{variable}\s*:?=(.*)$", text, re.M)
    assert match, f"the Makefile sets no {variable}"
    return match.group(1).split()


def test_setup_floors_are_the_import_checks_and_the_oldest_combination():
    """setup.py's floors are those the import checks, and the compatibility stage
    runs the oldest declared TensorFlow and Keras together, on the oldest
    declared Python."""
    setup = _setup_call()
    requirements = ast.literal_eval(setup["install_requires"])
    python_floor = re.fullmatch(r">=([\d.]+)", ast.literal_eval(setup["python_requires"])).group(1)
    floors = {
        module: versions.parse(".".join(map(str, versions.MINIMUM[module])))
        for module in versions.MINIMUM
    }
    assert _floor(requirements, "keras") == floors["keras"]
    assert _floor(requirements, "tensorflow") == floors["tensorflow"]

    combinations = [
        re.fullmatch(r"tf([\d.]+)-keras([\d.]+)-py([\d.]+)", name).groups()
        for name in _makefile_list("COMPAT_COMBINATIONS")
    ]
    oldest = min(combinations, key=lambda c: (versions.parse(c[0]), versions.parse(c[1])))
    assert (versions.parse(oldest[0]), versions.parse(oldest[1])) == (
        floors["tensorflow"],
        floors["keras"],
    )
    assert versions.parse(oldest[2]) == versions.parse(python_floor)
    assert min(versions.parse(c[1]) for c in combinations) == floors["keras"]


def test_the_compat_files_are_those_with_compat_tests():
    """COMPAT_TESTS (the files the stage collects: others import test-only packages
    it does not install) lists exactly the test files that use the compat marker."""
    listed = sorted(_makefile_list("COMPAT_TESTS"))
    marked = sorted(
        f"tests/{path.name}"
        for path in (REPO_ROOT / "tests").glob("test_*.py")
        if "pytest.mark.compat" in path.read_text(encoding="utf-8")
    )
    assert listed == marked


def test_readme_and_docs_state_the_tested_range():
    """README's install line and docs/index.md give the range the compatibility
    stage runs: the oldest and newest TensorFlow, Keras and Python of its
    combinations."""
    combinations = [
        re.fullmatch(r"tf([\d.]+)-keras([\d.]+)-py([\d.]+)", name).groups()
        for name in _makefile_list("COMPAT_COMBINATIONS")
    ]
    ranges = []
    for label, column in (("TensorFlow", 0), ("Keras", 1), ("Python", 2)):
        values = sorted({c[column] for c in combinations}, key=versions.parse)
        ranges.append((label, values[0], values[-1]))
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    install = next(
        line for line in readme.splitlines() if "pip install keras-applications-bn" in line
    )
    index = (REPO_ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for label, oldest, newest in ranges:
        assert f"{label} {oldest}-{newest}" in install, (label, install)
        assert f"{label} {oldest} to {newest}" in index, label
