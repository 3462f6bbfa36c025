"""The docstrings of the model modules, their model functions and their
``preprocess_input``: the one place they are written.

A model module fills its own docstring, a template, with one call at its top:
``__doc__ = docs.module_docstring(__doc__, "<module>")`` (the registry's sizes,
modes and widths go in). Its model functions get theirs from
``builder.model_function``, which calls `model_docstring` with the
family's `ModelDoc`: the text every model function shares
(`SHARED_ARGS`, the first line, the ``Returns:`` section) with what the
family says otherwise, given as data. Every fact about a model (input sizes,
preprocessing mode, the widths and sizes of its files) comes from
`.weights.registry`, so the docstrings cannot drift from the code.
"""

import dataclasses
import inspect

from keras_applications_bn.weights import registry

__all__ = [
    "fill",
    "listed",
    "input_facts",
    "model_facts",
    "module_docstring",
    "PINNED_BN_DOC",
    "PINNED_BN_WITHOUT_GAMMA_DOC",
    "NO_BN_DOC",
    "SHARED_ARGS",
    "SIZED_WEIGHTS_DOC",
    "SHAPED_INPUT_TENSOR_DOC",
    "RETURNS",
    "IN_MODEL_RETURNS",
    "ModelDoc",
    "model_docstring",
    "preprocess_docstring",
]


def fill(doc, **facts):
    """``doc`` with each ``{name}`` of ``facts`` replaced by its value (other braces,
    such as ``{alpha:.2f}``, stay as they are); replaced in the order given."""
    for key, value in facts.items():
        doc = doc.replace("{" + key + "}", str(value))
    return doc


def listed(values, last="or"):
    """``values`` in words: ``"128, 160, 192 or 224"`` (``last="and"``: ``"... and 224"``)."""
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} {last} {values[-1]}"


def input_facts(model):
    """``min_size``, ``default_size`` and ``mode`` (preprocessing) of ``model`` in
    the registry, as `fill` takes them."""
    spec = registry.model_spec(model)
    return dict(min_size=spec.min_size, default_size=spec.default_size, mode=spec.preprocessing)


def model_facts(model):
    """What a model function's docstring may name, from the registry: ``{model}``,
    ``{module}`` and `input_facts`; where its files have such variants
    ``{sizes}`` (square input sizes), ``{alphas}`` (widths; not the minimalistic
    ones) and ``{minimalistic_alphas}``; ``{weights_file}`` (the registry name of
    its file with the top) where it has one such file."""
    facts = dict(model=model, module=registry.model_spec(model).module, **input_facts(model))
    minimalistic = registry.variant_values(model, "minimalistic")
    alphas = registry.variant_values(
        model, "alpha", **({"minimalistic": False} if minimalistic else {})
    )
    for key, values, last in (
        ("sizes", registry.variant_values(model, "rows"), "or"),
        ("alphas", alphas, "and"),
        ("minimalistic_alphas", registry.variant_values(model, "alpha", minimalistic=True), "or"),
    ):
        if values:
            facts[key] = listed(values, last)
    top_files = [f.name for f in registry.REGISTRY.values() if f.model == model and f.include_top]
    if len(top_files) == 1:
        facts["weights_file"] = top_files[0]
    return facts


def module_docstring(doc, module):
    """``doc``, the docstring of ``keras_applications_bn.<module>``, with the
    registry's facts about its models filled in (see `fill`):
    ``{default_size}`` (where all its models share one), ``{default_sizes}``
    (each model's, in order), ``{<Model>_size}`` (one model's), ``{min_size}``,
    ``{mode}``, ``{files}`` (how many official files), and where its files
    have such variants ``{sizes}`` (input sizes), ``{alphas}`` (widths) and
    ``{minimalistic_alphas}``."""
    specs = registry.module_models(module)
    models = [spec.model for spec in specs]
    defaults = [spec.default_size for spec in specs]
    (min_size,) = {spec.min_size for spec in specs}
    facts = dict(
        default_sizes=listed(defaults, "and"),
        min_size=min_size,
        mode=registry.module_preprocessing(module),
        files=sum(entry.model in models for entry in registry.REGISTRY.values()),
        **{f"{spec.model}_size": spec.default_size for spec in specs},
    )
    if len(set(defaults)) == 1:
        facts["default_size"] = defaults[0]
    for key, argument, fixed in (
        ("sizes", "rows", {}),
        ("alphas", "alpha", {}),
        ("minimalistic_alphas", "alpha", {"minimalistic": True}),
    ):
        values = registry.variant_values(models[0], argument, **fixed)
        if values:
            facts[key] = listed(values)
    return fill(doc, **facts)


# The texts below break their lines with "\n" only; model_docstring indents them.

#: ``inference_bn`` described for families whose BN layers have gamma and beta.
PINNED_BN_DOC = (
    "when ``True``, every BatchNormalization layer normalises with\n"
    "its moving statistics and never updates them — under ``fit``, when\n"
    "nested, cloned or reloaded — while gamma and beta stay trainable."
)

#: ``inference_bn`` described for families whose BN layers have no gamma
#: (``scale=False``: InceptionV3, InceptionResNetV2).
PINNED_BN_WITHOUT_GAMMA_DOC = (
    "when ``True``, every BatchNormalization layer normalises with\n"
    "its moving statistics and never updates them — under ``fit``, when\n"
    "nested, cloned or reloaded — while beta stays trainable (these layers\n"
    "have no gamma)."
)

#: ``inference_bn`` described for models without BatchNormalization (VGG, ConvNeXt).
NO_BN_DOC = (
    "accepted for a uniform signature; this model has no BatchNormalization, so it changes nothing."
)

#: The argument descriptions every model function shares; a family's
#: `ModelDoc` replaces some and adds its own arguments'.
SHARED_ARGS = {
    "include_top": "whether to include {top}.",
    "weights": (
        '``None`` (random initialisation), ``"imagenet"`` (official\n'
        "ImageNet weights), or the path of a weights file in the same layout."
    ),
    "input_tensor": "optional Keras tensor to use as the image input.",
    "input_shape": (
        "optional ``(height, width, 3)`` (channels-last) input shape,\n"
        "each side at least {min_size}; only ``({default_size}, {default_size}, 3)`` with\n"
        "ImageNet weights and the top."
    ),
    "pooling": '``None``, ``"avg"`` or ``"max"`` global pooling when\n``include_top=False``.',
    "classes": "number of classes of the top (1000 with ImageNet weights).",
    "classifier_activation": (
        'activation of the top layer; ``"softmax"`` or\n``None`` with pretrained weights.'
    ),
    "name": "the model's name.",
    "inference_bn": "{inference_bn}",
}

#: ``weights`` of the families with files for several widths and input sizes.
SIZED_WEIGHTS_DOC = (
    '``None`` (random initialisation), ``"imagenet"`` (official\n'
    "ImageNet weights for this ``alpha`` and input size), or the path of a\n"
    "weights file in the same layout."
)

#: ``input_tensor`` of the families whose input takes the tensor's shape.
SHAPED_INPUT_TENSOR_DOC = (
    "optional Keras tensor to use as the image input (its shape\n"
    "is the input shape when ``input_shape`` is ``None``)."
)

#: The ``Returns:`` section of a model that takes preprocessed images.
RETURNS = (
    "A `keras.Model`. Preprocess its inputs with\n"
    '`keras_applications_bn.{module}.preprocess_input` (``"{mode}"`` mode).'
)

#: The ``Returns:`` section of a model that rescales and normalises its
#: [0, 255] input itself (EfficientNet, EfficientNetV2).
IN_MODEL_RETURNS = (
    "A `keras.Model` that takes RGB images with values in [0, 255]: it\n"
    "rescales and normalises them itself, so\n"
    "`keras_applications_bn.{module}.preprocess_input` is the identity."
)


@dataclasses.dataclass(frozen=True)
class ModelDoc:
    """What a family's model functions say beyond `SHARED_ARGS`, as data.

    Every text may name the facts of `model_facts` (``{min_size}``,
    ``{sizes}``, ...) and the values of the model's row in its family's
    ``VARIANTS`` table (``{depths}``, ...); lines break with ``"\\n"`` alone.

    Attributes:
        top: what ``include_top`` includes, e.g. ``"the classifier (``avg_pool``
            + ``predictions``)"``.
        inference_bn: the description of ``inference_bn``; ``None`` for a model
            without BatchNormalization (`NO_BN_DOC`, and the first line does
            not promise pinning).
        args: argument -> description, for the family's own arguments and the
            shared ones it describes otherwise. The ``Args:`` section lists the
            function's parameters in the order of its signature.
        summary: a paragraph between the first line and ``Args:`` (none when empty).
        returns: the ``Returns:`` section.
    """

    top: str
    inference_bn: str | None = PINNED_BN_DOC
    args: dict = dataclasses.field(default_factory=dict)
    summary: str = ""
    returns: str = RETURNS


def _indented(text, spaces):
    return text.replace("\n", "\n" + " " * spaces)


def model_docstring(fn, doc, **facts):
    """The docstring of model function ``fn`` (a row of the registry's model
    table), written from ``doc`` (a `ModelDoc`), the registry's facts
    (`model_facts`) and ``facts`` (its row of the family's variants; the
    registry's value where both have one).

    Raises:
        ValueError: a parameter of ``fn`` has no description.
    """
    texts = {**SHARED_ARGS, **doc.args}
    parameters = list(inspect.signature(fn).parameters)
    missing = [p for p in parameters if p not in texts]
    if missing:
        raise ValueError(
            f"{fn.__name__}: no description of parameter(s) {missing} in its ModelDoc."
        )
    pinned = ", optionally with every BatchNormalization pinned" if doc.inference_bn else ""
    summary = f"    {_indented(doc.summary, 4)}\n\n" if doc.summary else ""
    args = "".join(f"        {p}: {_indented(texts[p], 12)}\n" for p in parameters)
    template = (
        f"Instantiate {{model}}{pinned}.\n\n{summary}    Args:\n{args}\n"
        f"    Returns:\n        {_indented(doc.returns, 8)}\n    "
    )
    # the family's texts first: they may name the registry's facts
    own = dict(top=doc.top, inference_bn=_indented(doc.inference_bn or NO_BN_DOC, 12))
    return fill(template, **own, **{**facts, **model_facts(fn.__name__)})


def preprocess_docstring(family, mode):
    """The docstring of the ``preprocess_input`` of ``family``'s module, whose
    models take images preprocessed in ``mode`` (a mode of
    ``imagenet_utils.preprocess_input``, or ``"in-model"``: it returns its input)."""
    if mode == "in-model":
        return (
            f"Return ``x`` unchanged: {family} models take RGB images in [0, 255] and\n"
            "rescale and normalise them in their first layers, so there is nothing to do\n"
            "(kept, like Keras' own, so every family has a ``preprocess_input``).\n\n"
            "Args:\n    x: NumPy array or tensor of images.\n"
            "    data_format: ignored ('channels_last', 'channels_first' or None).\n"
        )
    return (
        f"Preprocess RGB images in [0, 255] for {family} ('{mode}' mode of "
        "`keras_applications_bn.imagenet_utils.preprocess_input`).\n\n"
        "Args:\n    x: NumPy array or tensor, 3D or 4D.\n"
        "    data_format: 'channels_last', 'channels_first' or None.\n\n"
        "Returns:\n    The preprocessed images. As in Keras, a float NumPy array is\n"
        "    overwritten in place; use the return value all the same.\n"
    )
