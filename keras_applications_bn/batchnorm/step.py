"""The compiled forward pass of adapt_bn_statistics.

``AdaptingStep`` runs the model on one batch, compiled for the backend, and
returns the batch moments every adapted layer recorded into the running pass;
the pass under a tf.distribute strategy subclasses it (``distribute.py``).
"""

import weakref

import keras

__all__ = ["AdaptingStep", "compiled"]


def compiled(fn):
    """``fn`` compiled for the current backend (eager where it is not TensorFlow;
    under PyTorch without autograd, which would otherwise record the whole pass
    because gamma/beta and the kernels require gradients)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    if backend == "torch":
        import torch

        return torch.no_grad()(fn)
    return fn


class AdaptingStep:
    """One compiled forward pass that returns every adapted layer's batch moments.

    ``order`` names the layer (by id) of each returned ``(count, mean, variance)``;
    it is recorded while the pass is traced. The step holds the model weakly, so
    caching it per model keeps nothing alive; it holds the running pass's
    ``_Adaptation`` (``adapt.py``) only during a call.
    """

    def __init__(self, model):
        self._model = weakref.ref(model)
        self.order = []
        self._adaptation = None
        self._function = compiled(self._forward)

    def _forward(self, x):
        adaptation = self._adaptation
        adaptation.start_pass()
        try:
            self._model()(x, training=False)
            calls = adaptation.calls()
        finally:
            adaptation.end_pass()
        self.order = [id(layer) for layer, *_ in calls]
        return [tuple(moments) for _, *moments in calls]

    def __call__(self, adaptation, x):
        """Run the pass on batch ``x``, the layers recording into ``adaptation``."""
        self._adaptation = adaptation
        try:
            return self._function(x)
        finally:
            self._adaptation = None

    def samples(self, x):
        """How many samples batch ``x`` (the last one passed) held."""
        return len(keras.tree.flatten(x)[0])
