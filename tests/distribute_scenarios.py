"""The tf.distribute scenarios of tests/test_distribute.py, each run in a fresh process.

``python tests/distribute_scenarios.py SCENARIO ARGS_JSON`` runs SCENARIO, which
first splits the CPU into logical devices or creates its
MultiWorkerMirroredStrategy, before anything else touches TensorFlow (both are
fixed once the runtime starts, and several strategies in one process can
collide). A scenario asserts what it can check
itself and writes what the test compares across processes to ``args["out"]``.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STARTED = time.perf_counter()


def logical_cpus(n):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    return [d.name for d in tf.config.list_logical_devices("CPU")]


# -- shared pieces -----------------------------------------------------------------

IMAGE = (32, 32, 3)
CLASSES = 3
MULTIPLIERS = {"conv1": 0.0, "conv1_bn": 0.0, "conv_dw_1*": 0.1, "conv_pw_1*": 0.3}


def replica_values(strategy, variable):
    """The value of ``variable`` held by each local replica, as NumPy arrays."""
    import numpy as np

    return [np.asarray(v) for v in strategy.experimental_local_results(variable.value)]


def assert_replicas_agree(strategy, model):
    import numpy as np

    for variable in model.weights:
        first, *others = replica_values(strategy, variable)
        for other in others:
            np.testing.assert_array_equal(other, first, err_msg=variable.path)


def classifier(small=False):
    """A pinned backbone with a new Dense head, a fine-tuning set-up: MobileNet
    (alpha 0.25), or with ``small`` three conv + pinned BN blocks (cheaper to trace)."""
    import keras

    import keras_applications_bn as kab

    if small:
        x = image = keras.Input(IMAGE)
        for index, (name, strides) in enumerate((("conv1", 2), ("conv_dw_1", 2), ("conv_pw_1", 1))):
            x = keras.layers.Conv2D(4 * (index + 1), 3, strides=strides, use_bias=False, name=name)(
                x
            )
            x = kab.layers.BatchNormalization(inference_mode=True, name=f"{name}_bn")(x)
            x = keras.layers.ReLU()(x)
        base = keras.Model(image, keras.layers.GlobalAveragePooling2D()(x), name="backbone")
    else:
        base = kab.MobileNet(
            weights=None,
            include_top=False,
            pooling="avg",
            alpha=0.25,
            input_shape=IMAGE,
            inference_bn=True,
        )
    inputs = keras.Input(IMAGE)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, name="head")(base(inputs)))


def initial_weights(small=False):
    """Weights for :func:`classifier` with meaningful BN statistics (the same in every process)."""
    import keras

    from architectures import randomize_bn

    keras.utils.set_random_seed(0)
    model = classifier(small)
    randomize_bn(model.layers[1], seed=0)
    return model.get_weights()


def fit_data(n=16):
    import numpy as np

    from architectures import images

    return images(IMAGE, n=n, seed=5), np.arange(n) % CLASSES


def adapt_data(n=17):
    import numpy as np

    # a non-zero mean and uneven scale; 17 = 8 + 8 + 1: the last global batch
    # leaves one replica empty
    return (np.random.default_rng(7).gamma(2.0, 0.5, (n,) + IMAGE) + 0.2).astype("float64")


def make_optimizer(kind):
    import keras

    from keras_applications_bn import LayerwiseLR

    inner = (
        keras.optimizers.SGD(1e-3, momentum=0.9) if kind == "sgd" else keras.optimizers.Adam(1e-3)
    )
    return LayerwiseLR(inner, MULTIPLIERS)


def fit(kind, weights, strategy=None, small=False):
    """A compiled classifier fitted for 2 steps of global batch 8; the model."""
    import contextlib

    import keras

    with strategy.scope() if strategy else contextlib.nullcontext():
        model = classifier(small)
        model.set_weights(weights)
        model.compile(
            optimizer=make_optimizer(kind),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    x, y = fit_data()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return model


def train_loop(kind, weights, strategy=None, small=True):
    """:func:`fit` as a custom training loop (``strategy.run`` + ``apply_gradients``):
    Keras 3.15's ``fit`` fails under MultiWorkerMirroredStrategy before its first
    step (``_maybe_symbolic_build`` reduces the (x, y) batch, which
    MultiWorkerMirroredStrategy.reduce does not take), so workers train this way."""
    import keras
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = classifier(small)
        model.set_weights(weights)
        optimizer = make_optimizer(kind)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    x, y = fit_data()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).with_options(options)

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True)) / 8.0  # the global batch
        gradients = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(gradients, model.trainable_weights))

    step = tf.function(lambda batch: strategy.run(replica_step, args=batch))
    for batch in strategy.experimental_distribute_dataset(dataset):
        step(batch)
    return model


def float64_backbone(strategy=None, small=False):
    """A float64 backbone (MobileNet alpha 0.25, or the small one), so that a 1e-5
    tolerance measures how moments are combined, not float32 rounding."""
    import contextlib

    import keras

    keras.utils.set_random_seed(3)
    keras.config.set_dtype_policy("float64")
    try:
        with strategy.scope() if strategy else contextlib.nullcontext():
            return classifier(small).layers[1]
    finally:
        keras.config.set_dtype_policy("float32")


def bn_statistics(model, strategy=None):
    """Every BN layer's (moving_mean, moving_variance), per replica when distributed."""
    import numpy as np

    import keras_applications_bn as kab

    out = []
    for layer in kab.bn_layers(model):
        for v in (layer.moving_mean, layer.moving_variance):
            out.append(replica_values(strategy, v) if strategy else [np.asarray(v.numpy())])
    return out


def max_relative_difference(actual, expected):
    """max |a - e| / max |e| over each statistic, the largest over all of them."""
    import numpy as np

    worst = 0.0
    for copies, (reference,) in zip(actual, expected):
        scale = max(float(np.abs(reference).max()), 1e-12)
        for copy in copies:
            worst = max(worst, float(np.abs(copy - reference).max()) / scale)
    return worst


def weight_differences(model, reference):
    """max |a - e| of each weight, by path."""
    import numpy as np

    return {
        v.path: float(np.abs(np.asarray(v.numpy()) - np.asarray(r.numpy())).max())
        for v, r in zip(model.weights, reference.weights)
    }


def log(message):
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", flush=True)


# -- scenarios ---------------------------------------------------------------------


def build_all(args):
    """Every contract architecture builds under MirroredStrategy from a weights file,
    and one with weights="imagenet" through the mirror; every replica holds the file's weights."""
    devices = logical_cpus(2)
    import dataclasses

    import numpy as np
    import tensorflow as tf

    from keras_applications_bn import weights as weights_lib

    from architectures import CONTRACT

    strategy = tf.distribute.MirroredStrategy(devices)
    assert strategy.num_replicas_in_sync == 2

    def check(model, expected, what):
        weights = model.weights
        assert len(weights) == len(expected), (what, len(weights), len(expected))
        for variable, value in zip(weights, expected):
            copies = replica_values(strategy, variable)
            assert len(copies) == 2, (what, variable.path)
            for copy in copies:
                np.testing.assert_array_equal(copy, value, err_msg=f"{what}: {variable.path}")
        pinned = [layer for layer in model._flatten_layers() if hasattr(layer, "inference_mode")]
        assert pinned and all(layer.inference_mode for layer in pinned), what

    built = []
    for arch in CONTRACT:
        expected = list(np.load(os.path.join(args["dir"], f"{arch.id}.npz")).values())
        with strategy.scope():
            model = arch.ours(
                weights=os.path.join(args["dir"], f"{arch.id}.h5"),
                include_top=False,
                input_shape=arch.shape,
                inference_bn=True,
            )
        check(model, expected, arch.id)
        built.append(arch.id)
        log(f"{arch.id}: built under MirroredStrategy from a path")

    # weights="imagenet": the registry entry pinned to the served file's sha256
    arch = next(a for a in CONTRACT if a.id == args["imagenet_arch"])
    key = args["imagenet_key"]
    entry = weights_lib.get(key)
    weights_lib.REGISTRY[entry.name] = dataclasses.replace(entry, file_hash=args["sha256"])
    expected = list(np.load(os.path.join(args["dir"], f"{arch.id}.npz")).values())
    with strategy.scope():
        model = arch.ours(
            weights="imagenet", include_top=False, input_shape=arch.shape, inference_bn=True
        )
    check(model, expected, f"{arch.id} imagenet")
    log(f"{arch.id}: built under MirroredStrategy with weights='imagenet'")
    with open(args["out"], "w") as f:
        json.dump({"built": built}, f)


def mirrored(args):
    """1 vs 2 replicas: LayerwiseLR fits (SGD, Adam) and adapt_bn_statistics agree."""
    devices = logical_cpus(2)
    import numpy as np
    import tensorflow as tf

    import keras_applications_bn as kab

    weights = initial_weights()
    strategy = tf.distribute.MirroredStrategy(devices)
    assert strategy.num_replicas_in_sync == 2
    result = {"fit": {}, "adapt": {}}

    # SGD with momentum on the pinned MobileNet, Adam on the small pinned net
    for kind, small in (("sgd", False), ("adam", True)):
        start = weights if not small else initial_weights(small=True)
        one = fit(kind, start, small=small)
        two = fit(kind, start, strategy, small=small)
        assert_replicas_agree(strategy, two)
        # pinned: the moving statistics did not move, on any replica
        for layer in kab.bn_layers(two):
            for v in (layer.moving_mean, layer.moving_variance):
                index = next(i for i, w in enumerate(two.weights) if w is v)
                for copy in replica_values(strategy, v):
                    np.testing.assert_array_equal(copy, start[index], err_msg=v.path)
        result["fit"][kind] = {
            "vs_one_device": weight_differences(two, one),
            "moved": {
                w.path: float(np.abs(np.asarray(w.numpy()) - w0).max())
                for w, w0 in zip(two.weights, start)
            },
            "pinned_layers": sum(layer.inference_mode for layer in kab.bn_layers(two)),
        }
        log(f"LayerwiseLR({kind}): 1 vs 2 replicas fitted")

    x = adapt_data()
    reference_model = float64_backbone()
    assert kab.adapt_bn_statistics(reference_model, x, batch_size=8) == len(x)
    reference = bn_statistics(reference_model)
    log("adapt: one device")

    model = float64_backbone(strategy)
    with strategy.scope():
        assert kab.adapt_bn_statistics(model, x, batch_size=8) == len(x)
    result["adapt"]["numpy"] = max_relative_difference(bn_statistics(model, strategy), reference)
    log("adapt: 2 replicas, NumPy input")

    # a dataset the user distributed: one pipeline of per-replica batches of 4
    kab.reset_bn_statistics(model)
    distributed = strategy.distribute_datasets_from_function(
        lambda context: tf.data.Dataset.from_tensor_slices(x).batch(
            context.get_per_replica_batch_size(8)
        )
    )
    with strategy.scope():
        assert kab.adapt_bn_statistics(model, distributed) == len(x)
    result["adapt"]["distributed_dataset"] = max_relative_difference(
        bn_statistics(model, strategy), reference
    )
    log("adapt: 2 replicas, a dataset distributed with distribute_datasets_from_function")

    # the small net, adapted outside the scope on labelled tf.data input: the
    # strategy that holds the model's variables is used
    reference_model = float64_backbone(small=True)
    kab.adapt_bn_statistics(reference_model, x, batch_size=8)
    model = float64_backbone(strategy, small=True)
    labelled = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(8)
    assert kab.adapt_bn_statistics(model, labelled) == len(x)
    result["adapt"]["labelled_dataset_outside_scope"] = max_relative_difference(
        bn_statistics(model, strategy), bn_statistics(reference_model)
    )
    log("adapt: 2 replicas, labelled tf.data input, outside the scope")

    with open(args["out"], "w") as f:
        json.dump(result, f)


def worker(args):
    """One of two MultiWorkerMirroredStrategy workers (TF_CONFIG from the test).

    After the distributed fit and adaptation, the same process runs the one-device
    reference (a model built outside the strategy's scope) and reports differences.
    """
    import numpy as np
    import tensorflow as tf

    # first, before TensorFlow's runtime starts (one CPU device per worker)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()

    import keras_applications_bn as kab

    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    log(f"worker {strategy.cluster_resolver.task_id}: strategy up")
    weights = initial_weights(small=True)

    two = train_loop("adam", weights, strategy)
    log("LayerwiseLR training loop under MultiWorkerMirroredStrategy")
    x = adapt_data()
    model = float64_backbone(strategy, small=True)
    with strategy.scope():
        samples = kab.adapt_bn_statistics(model, x, batch_size=8)
    assert samples == len(x), samples
    statistics = bn_statistics(model, strategy)
    log("adapt under MultiWorkerMirroredStrategy")

    one = train_loop("adam", weights)
    reference_model = float64_backbone(small=True)
    kab.adapt_bn_statistics(reference_model, x, batch_size=8)
    result = {
        "fit_vs_one_device": weight_differences(two, one),
        "adapt_vs_one_device": max_relative_difference(statistics, bn_statistics(reference_model)),
        "moved": {
            w.path: float(np.abs(np.asarray(w.numpy()) - w0).max())
            for w, w0 in zip(two.weights, weights)
        },
    }
    np.savez(
        args["out"] + ".npz",
        *[np.asarray(w.numpy()) for w in two.weights],
        *[copies[0] for copies in statistics],
    )
    with open(args["out"], "w") as f:
        json.dump(result, f)
    log("one-device reference done")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    scenario, arguments = sys.argv[1], json.loads(sys.argv[2])
    {"build_all": build_all, "mirrored": mirrored, "worker": worker}[scenario](arguments)
    log("done")
