"""A griffe extension for ``make docs``: the model modules build their docstrings
at import time from the weights registry (sizes, preprocessing modes, widths),
so the API reference shows those, not the templates griffe reads in the source.

Only the modules of the registry's model table (and ``resnet50``) are touched:
their module docstring and the docstring of each name in their ``__all__``.
"""

import importlib
import pathlib
import sys

import griffe

# This checkout's package, not an installed copy of it.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))


class RuntimeDocstrings(griffe.Extension):
    def on_package(self, *, pkg, **kwargs):
        if pkg.name != "keras_applications_bn":
            return
        from keras_applications_bn.weights import registry

        template = pkg.docstring  # its parser and options are the configured ones
        for name in sorted({spec.module for spec in registry.MODELS.values()} | {"resnet50"}):
            runtime = importlib.import_module(f"keras_applications_bn.{name}")
            static = pkg[name]
            _set_docstring(static, runtime.__doc__, template)
            for member in runtime.__all__:
                obj = static.members.get(member)
                if obj is not None and not obj.is_alias and getattr(runtime, member).__doc__:
                    _set_docstring(obj, getattr(runtime, member).__doc__, template)


def _set_docstring(obj, text, template):
    old = obj.docstring or template
    obj.docstring = griffe.Docstring(
        text,
        lineno=old.lineno if obj.docstring else None,
        endlineno=old.endlineno if obj.docstring else None,
        parent=obj,
        parser=old.parser,
        parser_options=old.parser_options,
    )
