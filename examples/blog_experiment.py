"""The source blog's experiment: a frozen backbone, a small 2-class set, fit then evaluate.

The blog ("The Batch Normalization layer of Keras is broken") froze a pretrained
ResNet50, trained a classifier on a small 2-class set, and then evaluated the
model *on the same training data*: the accuracy ``fit`` reported and the accuracy
of ``evaluate`` disagreed, because the frozen BN layers still normalised each
training batch with its own statistics while ``evaluate`` used the moving ones.

Here, offline:

* images: 2 classes of 32x32 crops of real photographs shipped with scikit-image
  (``chelsea``, a cat, and ``coffee``, a cup), with flips;
* backbone: ResNet50 at 32x32. No ImageNet weights are available offline, so the
  backbone has random convolutions whose BN statistics were estimated (with
  ``adapt_bn_statistics``) on crops of *other* scikit-image photographs — a stand-in
  for "statistics of the pretraining data", which differ from the new data's;
* the backbone is frozen with ``keras_applications_bn.freeze``, which, like Keras 2
  at the time of the blog, leaves BN layers that are not pinned in batch-statistics
  mode (freezing their gamma/beta only).

Rows: ``inference_bn=False``; ``inference_bn=False`` with the backbone called as
``base(x, training=False)`` (the Keras 3 pitfall: ``fit`` overrides it); and
``inference_bn=True``. Only the pinned model's ``fit`` and ``evaluate`` agree.

Run: ``python examples/blog_experiment.py`` (about a minute on 2 CPU cores);
``--quick`` uses fewer images and epochs.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # quiet "retracing" notes: each run builds new models
import numpy as np  # noqa: E402

from keras_applications_bn import ResNet50, adapt_bn_statistics, freeze  # noqa: E402
from keras_applications_bn.resnet50 import preprocess_input  # noqa: E402

CLASSES = ("chelsea", "coffee")
PRETRAIN_IMAGES = ("astronaut", "rocket", "immunohistochemistry", "hubble_deep_field", "colorwheel")
SIZE = 32


def crops(name, count, rng, size=SIZE, scale=4):
    """``count`` random ``size``x``size`` crops (with flips) of a downscaled skimage photograph."""
    import skimage.data
    import skimage.transform

    image = getattr(skimage.data, name)()
    image = skimage.transform.rescale(image, 1 / scale, channel_axis=-1, anti_aliasing=True) * 255.0
    h, w = image.shape[:2]
    out = np.empty((count, size, size, 3), "float32")
    for i in range(count):
        top, left = rng.integers(0, h - size), rng.integers(0, w - size)
        patch = image[top : top + size, left : left + size]
        out[i] = patch[:, ::-1] if rng.random() < 0.5 else patch
    return out


def dataset(per_class, rng):
    x = np.concatenate([crops(name, per_class, rng) for name in CLASSES])
    y = np.repeat(np.arange(len(CLASSES)), per_class)
    order = rng.permutation(len(x))
    return preprocess_input(x[order]), y[order]


def backbone_weights(rng, count):
    """ResNet50 weights: random convolutions, BN statistics estimated on other photographs."""
    keras.utils.set_random_seed(0)
    base = ResNet50(weights=None, include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3))
    other = np.concatenate([crops(name, count, rng) for name in PRETRAIN_IMAGES])
    adapt_bn_statistics(base, preprocess_input(other), batch_size=64, verbose=0)
    return base.get_weights()


def run(setup, weights, x, y, epochs):
    """Fit a classifier on the frozen backbone; return fit's last-epoch and evaluate's accuracy."""
    keras.utils.set_random_seed(1)
    base = ResNet50(
        weights=None,
        include_top=False,
        pooling="avg",
        input_shape=(SIZE, SIZE, 3),
        inference_bn=setup == "inference_bn=True",
    )
    base.set_weights(weights)
    freeze(base)
    inputs = keras.Input((SIZE, SIZE, 3))
    features = base(inputs, training=False) if "training=False" in setup else base(inputs)
    model = keras.Model(
        inputs, keras.layers.Dense(len(CLASSES), activation="softmax", name="head")(features)
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, shuffle=True)
    fit_acc = history.history["accuracy"][-1]
    eval_acc = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["accuracy"]
    return {
        "setup": setup,
        "fit": float(fit_acc),
        "evaluate": float(eval_acc),
        "gap": float(fit_acc - eval_acc),
    }


SETUPS = ("inference_bn=False", "inference_bn=False, base(x, training=False)", "inference_bn=True")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and epochs")
    args = parser.parse_args(argv)
    per_class, epochs, pretrain = (24, 12, 24) if args.quick else (100, 15, 64)
    rng = np.random.default_rng(0)
    weights = backbone_weights(rng, pretrain)
    x, y = dataset(per_class, rng)
    rows = [run(setup, weights, x, y, epochs) for setup in SETUPS]
    print(
        f"frozen ResNet50 (32x32), {len(x)} images of 2 classes, {epochs} epochs; "
        "accuracy on the training data"
    )
    print("| setup | `fit` (last epoch) | `evaluate` (same data) | gap |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['setup']} | {row['fit']:.3f} | {row['evaluate']:.3f} | {row['gap']:+.3f} |")
    return rows


if __name__ == "__main__":
    main()
