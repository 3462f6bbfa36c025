"""The architectures the parametrised suites run over.

A new architecture joins the contract and weight-compatibility suites by adding
one entry to ARCHITECTURES.
"""

import dataclasses
import importlib

import h5py
import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class Arch:
    id: str
    module: str  # keras_applications_bn.<module>
    fn: str  # the function name, the same in keras.applications
    shape: tuple  # a small input shape both implementations accept
    kwargs: dict = dataclasses.field(default_factory=dict)  # e.g. alpha for MobileNet
    has_bn: bool = True
    contract: bool = True  # run the (slower) full inference_bn contract on it

    def ours(self, **kwargs):
        module = importlib.import_module(f"keras_applications_bn.{self.module}")
        return getattr(module, self.fn)(**{**self.kwargs, **kwargs})

    def keras(self, **kwargs):
        return getattr(keras.applications, self.fn)(**{**self.kwargs, **kwargs})

    def __str__(self):
        return self.id


ARCHITECTURES = [
    Arch("resnet50", "resnet50", "ResNet50", (32, 32, 3)),
]

WITH_BN = [a for a in ARCHITECTURES if a.has_bn]
CONTRACT = [a for a in WITH_BN if a.contract]


def randomize_bn(model, seed=0):
    """Give every BN layer distinctive statistics and gamma/beta, so that training
    and inference modes, and a wrong weight order, change the outputs visibly."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            values = []
            for w in layer.weights:
                n = w.path.rsplit("/", 1)[-1]
                shape = tuple(w.shape)
                if n == "gamma":
                    values.append(rng.uniform(0.8, 1.2, shape))
                elif n == "beta":
                    values.append(rng.normal(0.0, 0.1, shape))
                elif n == "moving_mean":
                    values.append(rng.normal(0.0, 0.2, shape))
                else:  # moving_variance
                    values.append(rng.uniform(0.5, 1.5, shape))
            layer.set_weights([v.astype("float32") for v in values])
    return model


def save_official_layout(model, path):
    """Save ``model``'s weights as the official ImageNet files are laid out
    (legacy Keras h5 weights format, loaded by layer order)."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


def bn_state(model):
    """Copies of every BN layer's moving statistics, in order."""
    out = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            out.append(
                (np.array(layer.moving_mean.numpy()), np.array(layer.moving_variance.numpy()))
            )
    return out


def images(shape, n=4, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n,) + tuple(shape)).astype("float32")
