"""Save a tiny model with every registered class of keras_applications_bn (x.npy, y.npy,
model.keras, model.h5): the files were written by this script at commit 1b8fa22, whose
registered names were "keras_applications_bn>...", to check that such files keep loading."""

import sys

import keras
import numpy as np

from keras_applications_bn.layers import Affine, BatchNormalization, CustomScaleLayer, ReduceSum

out = sys.argv[1]
keras.utils.set_random_seed(0)
inp = keras.Input((6, 6, 3))
x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
x = BatchNormalization(inference_mode=True, name="conv_bn")(x)
x = Affine(offset=3.0, scale=0.5)(x)
x = CustomScaleLayer(0.25, name="scaled")([x, x])
x = keras.layers.Reshape((6, 6, 2, 2))(x)
x = ReduceSum(axis=-1, name="sum")(x)
model = keras.Model(inp, x, name="saved_by_earlier_version")
bn = model.get_layer("conv_bn")
bn.moving_mean.assign(np.linspace(-1, 1, 4).astype("float32"))
bn.moving_variance.assign(np.linspace(0.5, 2, 4).astype("float32"))
x = np.random.default_rng(0).uniform(0, 1, (2, 6, 6, 3)).astype("float32")
np.save(f"{out}/x.npy", x)
np.save(f"{out}/y.npy", model.predict(x, verbose=0))
model.save(f"{out}/model.keras")
model.save(f"{out}/model.h5")
