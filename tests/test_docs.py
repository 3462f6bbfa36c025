"""The documentation: every ```python block of docs/fine-tuning.md runs, and every
public docstring (the API reference is generated from them) is written in one
style, Google's as Keras writes them (``Args:``/``Returns:``/``Raises:``)."""

import importlib
import inspect
import pkgutil
import re

import pytest

import keras_applications_bn

from conftest import REPO_ROOT, run_python


def python_blocks(path):
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


@pytest.mark.slow  # a fresh process that trains: the slow lane, with the examples
def test_fine_tuning_guide_snippets_run():
    blocks = python_blocks(REPO_ROOT / "docs" / "fine-tuning.md")
    assert len(blocks) >= 7
    script = "\n".join(f"# --- block {i}\n{block}" for i, block in enumerate(blocks))
    run_python(script + "\nprint('guide ok')", cwd=str(REPO_ROOT))


# reST field lists, NumPy section underlines, and Keras 2's "Arguments:"
OTHER_STYLES = re.compile(
    r"^\s*:(param|parameter|arg|argument|key|keyword|type|returns?|rtype|raises?|yields?)\b"
    r"|^\s*(Parameters|Returns|Raises|Yields|Attributes|Examples?|Notes?|See Also|Other Parameters)\s*\n\s*-{3,}"
    r"|^\s*Arguments:\s*$"
    # Sphinx cross-reference roles, which the Markdown reference shows as raw text
    r"|:(func|class|mod|data|meth|attr|obj|exc|const):`",
    re.M,
)


def package_modules():
    """Every module of the package (``__main__`` too: it runs nothing on import)."""
    names = [keras_applications_bn.__name__]
    for info in pkgutil.walk_packages(
        keras_applications_bn.__path__, keras_applications_bn.__name__ + "."
    ):
        names.append(info.name)
    return [importlib.import_module(name) for name in names]


def own_members(module):
    """The public functions and classes of ``module``: its ``__all__`` when it has
    one (as for Python and the API reference), else every function or class it
    defines under a name without a leading underscore."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__
        ]
    for name in names:
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            yield f"{module.__name__}.{name}", obj


def public_callables():
    """``(qualified name, object, overrides)`` of every public function, class,
    method and property of the package, each once (``keras_applications_bn.__all__``
    re-exports names defined in submodules); ``overrides`` tells a method that
    implements a base class's (``call``, ``build``, ``get_config``, ...)."""
    found, seen = [], set()
    for module in package_modules():
        for name, obj in own_members(module):
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            found.append((name, obj, False))
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not (
                        callable(member)
                        or isinstance(member, (property, classmethod, staticmethod))
                    ):
                        continue
                    overrides = any(hasattr(base, attr) for base in obj.__mro__[1:])
                    found.append((f"{name}.{attr}", getattr(obj, attr), overrides))
    return found


def test_every_public_name_is_found():
    names = {name.rsplit(".", 1)[-1] for name, _, _ in public_callables()}
    exported = {
        n
        for n in keras_applications_bn.__all__
        if not inspect.ismodule(getattr(keras_applications_bn, n))
    }
    assert exported <= names
    assert {"adapt_bn_statistics", "fetch_file", "verify", "AdaptBNStatistics", "main"} <= names


def test_every_public_callable_has_a_docstring_in_one_style():
    """A method that only implements its Keras base class's (``call``, ``build``,
    ``get_config``, ...) needs no docstring of its own, as in Keras."""
    missing, other_style = [], []
    for name, obj, overrides in public_callables():
        obj = obj.fget if isinstance(obj, property) else obj
        if not overrides and not (inspect.getdoc(obj) or "").strip():
            missing.append(name)
        own = getattr(obj, "__doc__", None) or ""
        if OTHER_STYLES.search(own):
            other_style.append(f"{name}: {OTHER_STYLES.search(own).group(0).strip()!r}")
    for module in package_modules():  # module docstrings open each reference page
        if OTHER_STYLES.search(module.__doc__ or ""):
            other_style.append(
                f"{module.__name__}: {OTHER_STYLES.search(module.__doc__).group(0).strip()!r}"
            )
    assert missing == [], "public callables without a docstring"
    assert other_style == [], "docstrings not in the Google/Keras style (Args:, Returns:, Raises:)"
