"""The conventions every family module keeps (issue #22): each public model
function is declared by ``_models.builder.model_function`` (a row of the
registry's model table, the docstring ``_models.docs`` writes from the family's
``DOC``, the keywords of keras_applications 1.0.8), and a family of several
model functions keeps their configurations in one ``VARIANTS`` table, which the
model functions pass to the family's builder."""

import importlib
import inspect

import pytest

from keras_applications_bn._models import builder, docs
from keras_applications_bn.weights import registry

MODULES = sorted({spec.module for spec in registry.MODELS.values()})


def family(module):
    return importlib.import_module(f"keras_applications_bn.{module}")


@pytest.mark.parametrize("module", MODULES)
def test_model_functions_are_declared_one_way(module):
    mod = family(module)
    source = inspect.getsource(mod)
    for spec in registry.module_models(module):
        fn = getattr(mod, spec.model)
        assert fn._accepts_injected_modules, spec.model  # legacy.injected_keywords
        row = getattr(mod, "VARIANTS", {}).get(spec.model, {})
        assert fn.__doc__ == docs.model_docstring(inspect.unwrap(fn), mod.DOC, **row), spec.model
        assert "@builder.model_function(DOC" in source.split(f"def {spec.model}(")[0][-60:]
    assert mod.preprocess_input._accepts_injected_modules
    # no second mechanism: docstrings assigned afterwards, namespace loops
    assert ".__doc__ = " not in source and "globals()" not in source, module


@pytest.mark.parametrize("module", [m for m in MODULES if len(registry.module_models(m)) > 1])
def test_families_keep_their_variants_in_one_table(module):
    mod = family(module)
    models = [spec.model for spec in registry.module_models(module)]
    assert list(mod.VARIANTS) == models
    assert all(isinstance(row, dict) for row in mod.VARIANTS.values())
    source = inspect.getsource(mod)
    for model in models:
        assert f'**VARIANTS["{model}"]' in source.split(f"def {model}(")[1].split("\ndef ")[0], (
            model
        )


def test_model_function_refuses_what_the_model_table_lacks():
    def NoSuchNet(include_top=True):
        """Not a model function."""

    with pytest.raises(ValueError, match="Unknown model='NoSuchNet'"):
        builder.model_function(docs.ModelDoc(top="the top"))(NoSuchNet)

    def ResNet50(include_top=True):
        """Defined outside keras_applications_bn.resnet."""

    with pytest.raises(ValueError, match="defined in 'test_families'.*'resnet'"):
        builder.model_function(docs.ModelDoc(top="the top"))(ResNet50)
    ResNet50.__module__ = "keras_applications_bn.resnet"
    with pytest.raises(ValueError, match="no row in its family's VARIANTS"):
        builder.model_function(docs.ModelDoc(top="the top"), variants={})(ResNet50)


def test_model_docstring_describes_every_parameter():
    def ResNet50(include_top=True, depth=50):
        pass

    with pytest.raises(ValueError, match=r"no description of parameter\(s\) \['depth'\]"):
        docs.model_docstring(ResNet50, docs.ModelDoc(top="the top"))
    doc = docs.model_docstring(
        ResNet50,
        docs.ModelDoc(top="the top", args={"depth": "layers: {depth}, of\nweights."}),
        depth=50,
    )
    assert "        include_top: whether to include the top.\n" in doc
    assert "        depth: layers: 50, of\n            weights.\n" in doc
    assert doc.index("include_top:") < doc.index("depth:")  # the signature's order
