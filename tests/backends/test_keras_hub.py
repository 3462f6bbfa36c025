"""KerasHub's image backbones under the backend this stage runs (JAX, PyTorch).

The same tests as the main suite's tests/test_keras_hub.py (which runs them under
TensorFlow), collected here under ``KERAS_BACKEND``: every backbone of
tests/keras_hub_backbones.py, built from its constructor (no download), goes
through the BN tools (bn_layers, freeze/unfreeze, set_inference_bn,
adapt_bn_statistics, a pinned LayerwiseLR fit, reset), and a KerasHub image
classifier with a nested backbone. This stage has no slow lane: every backbone runs.
"""

from test_keras_hub import (  # noqa: F401  (collected by pytest from this module)
    test_keras_hub_image_classifier_nested_backbone,
    test_tools_on_keras_hub_backbone,
)
