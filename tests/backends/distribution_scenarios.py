"""The scenarios of tests/backends/test_distribution.py, each run in a fresh process.

``python tests/backends/distribution_scenarios.py SCENARIO ARGS_JSON`` runs
SCENARIO under the backend ``KERAS_BACKEND`` names:

- ``jax_devices``: one JAX process with 2 CPU devices (the test sets
  ``XLA_FLAGS=--xla_force_host_platform_device_count=2``): ``keras.distribution``'s
  DataParallel and a ModelParallel layout map against one device;
- ``jax_process``: one of 2 JAX processes (``keras.distribution.initialize`` on
  127.0.0.1), DataParallel over both;
- ``torch_process``: one of 2 PyTorch processes (``torch.distributed``, gloo on
  127.0.0.1), DistributedDataParallel as in Keras' multi-GPU guide for PyTorch.

Each checks what it can itself (assertions), compares with the one-device result it
computes in the same process, and writes what the test compares across processes
to ``args["out"]`` (JSON, and the weights and statistics to ``out + ".npz"``).
TensorFlow is made unimportable first, as in the backend stage's own runs.
"""

import contextlib
import importlib.abc
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STARTED = time.perf_counter()


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow is not available in the backend stage's scenarios")
        return None


def log(message):
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", flush=True)


# -- shared pieces -----------------------------------------------------------------

IMAGE = (16, 16, 3)
CLASSES = 3
GLOBAL_BATCH = 8
# the stem does not train, two blocks train at 0.1 and 0.3 of the rate, the head at 1
MULTIPLIERS = {"conv1": 0.0, "conv1_bn": 0.0, "block1*": 0.1, "block2*": 0.3}


def classifier(dtype=None):
    """A pinned 3-block conv net with a Dense head (``backbone`` is its first layer)."""
    import keras

    import keras_applications_bn as kab

    x = image = keras.Input(IMAGE)
    for name, filters, strides in (("conv1", 4, 2), ("block1", 8, 1), ("block2", 8, 2)):
        x = keras.layers.Conv2D(
            filters, 3, strides=strides, use_bias=False, name=name, dtype=dtype
        )(x)
        x = kab.layers.BatchNormalization(inference_mode=True, name=f"{name}_bn", dtype=dtype)(x)
        x = keras.layers.ReLU(dtype=dtype)(x)
    base = keras.Model(image, keras.layers.GlobalAveragePooling2D(dtype=dtype)(x), name="backbone")
    inputs = keras.Input(IMAGE)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, name="head", dtype=dtype)(base(inputs)))


def initial_weights():
    """Weights for :func:`classifier` from NumPy alone: the same in every process."""
    import numpy as np

    rng = np.random.default_rng(0)
    weights = []
    for variable in classifier().weights:
        kind = variable.path.rsplit("/", 1)[-1]
        shape = tuple(variable.shape)
        if kind == "kernel":
            value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[:-1])), shape)
        elif kind in ("gamma", "moving_variance"):
            value = rng.uniform(0.6, 1.4, shape)
        else:  # beta, bias, moving_mean
            value = rng.normal(0.0, 0.2, shape)
        weights.append(value.astype("float32"))
    return weights


def fit_data(n=16):
    import numpy as np

    rng = np.random.default_rng(5)
    return rng.uniform(0.0, 1.0, (n,) + IMAGE).astype("float32"), (np.arange(n) % CLASSES).astype(
        "int64"
    )


def adapt_data(n=20):
    """Skewed, non-zero-mean inputs in float64; 20 = 8 + 8 + 4 (the last global batch short)."""
    import numpy as np

    return (np.random.default_rng(7).gamma(2.0, 0.5, (n,) + IMAGE) + 0.2).astype("float64")


def share(x, index, processes, batch=GLOBAL_BATCH):
    """Process ``index``'s share of every global batch of ``x``: its contiguous
    ``batch / processes`` part of each (what one device sees, split in process order)."""
    import numpy as np

    parts = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        size = len(chunk) // processes
        parts.append(chunk[index * size : (index + 1) * size])
    return np.concatenate(parts)


def make_optimizer():
    import keras

    from keras_applications_bn import LayerwiseLR

    return LayerwiseLR(keras.optimizers.SGD(0.05, momentum=0.9), MULTIPLIERS)


def weights_of(model):
    import keras

    return {v.path: keras.ops.convert_to_numpy(v).astype("float64") for v in model.weights}


def moved(model, start):
    """How far each weight moved from ``start`` (max |difference|), by path."""
    import numpy as np

    return {
        path: float(np.abs(value - w0).max())
        for (path, value), w0 in zip(weights_of(model).items(), start)
    }


def differences(model, reference):
    """max |a - e| of each weight, by path."""
    import numpy as np

    ours, theirs = weights_of(model), weights_of(reference)
    return {path: float(np.abs(ours[path] - theirs[path]).max()) for path in ours}


def bn_statistics(model):
    """Every BN layer's moving mean and variance, in order, as float64 NumPy arrays."""
    import keras

    import keras_applications_bn as kab

    return [
        keras.ops.convert_to_numpy(v).astype("float64")
        for layer in kab.bn_layers(model)
        for v in (layer.moving_mean, layer.moving_variance)
    ]


def max_relative_difference(actual, expected):
    """max |a - e| / max |e| over each statistic, the largest over all of them."""
    import numpy as np

    return max(
        float(np.abs(a - e).max()) / max(float(np.abs(e).max()), 1e-12)
        for a, e in zip(actual, expected)
    )


def device_copies(variable):
    """JAX: the value each local device holds of ``variable`` (NumPy arrays)."""
    import numpy as np

    return [np.asarray(shard.data) for shard in variable.value.addressable_shards]


def assert_same_on_every_device(model, what):
    """JAX: every replicated weight of ``model`` (all but those a layout map splits)
    holds the same value on every local device."""
    import numpy as np

    checked = 0
    for variable in model.weights:
        if not variable.value.sharding.is_fully_replicated:
            continue
        first, *others = device_copies(variable)
        for other in others:
            np.testing.assert_array_equal(other, first, err_msg=f"{what}: {variable.path}")
        checked += 1
    assert checked, what


def assert_pinned(model, start, what):
    """Every BN layer is pinned and its moving statistics are still ``start``'s."""
    import numpy as np

    import keras_applications_bn as kab

    layers = kab.bn_layers(model)
    assert layers and all(layer.inference_mode for layer in layers), what
    values = dict(zip([v.path for v in model.weights], start))
    now = weights_of(model)
    for layer in layers:
        for variable in (layer.moving_mean, layer.moving_variance):
            np.testing.assert_array_equal(
                now[variable.path], values[variable.path], err_msg=f"{what}: {variable.path}"
            )


def imagenet_backbone(args):
    """MobileNet (alpha 0.25, 32x32, pinned) with weights="imagenet" from the test's
    loopback mirror, and the file's weights in order (what every device must hold)."""
    import numpy as np

    import keras_applications_bn as kab

    model = kab.MobileNet(
        weights="imagenet",
        include_top=False,
        alpha=0.25,
        input_shape=(32, 32, 3),
        inference_bn=True,
    )
    expected = list(np.load(args["weights_npz"]).values())
    assert len(model.weights) == len(expected)
    assert all(layer.inference_mode for layer in kab.bn_layers(model))
    return model, expected


def float64_backbone():
    """The classifier's backbone in float64 (so a 1e-10 tolerance measures how the
    moments are combined, not float32 rounding), with the NumPy initial weights."""
    model = classifier(dtype="float64")
    model.set_weights(initial_weights())
    return model.layers[1]


PRIOR = 8  # samples' worth of weight for a layer's own statistics in the prior= cases


def one_device_prior(x, expected):
    """The float64 backbone's statistics after ``adapt_bn_statistics(prior=PRIOR)`` on
    all of ``x`` in one process (outside any process group: under one, a call is a
    cross-process pass); they must differ from ``expected``, those of ``prior=0``."""
    import keras_applications_bn as kab

    model = float64_backbone()
    kab.adapt_bn_statistics(model, x, batch_size=GLOBAL_BATCH, prior=PRIOR, verbose=0)
    mixed = bn_statistics(model)
    assert max_relative_difference(mixed, expected) > 1e-3, f"prior={PRIOR} changed nothing"
    return mixed


def result_file(args, result, arrays):
    import numpy as np

    np.savez(args["out"] + ".npz", *arrays)
    with open(args["out"], "w") as f:
        json.dump(result, f, indent=1)


def expect_error(kind, call):
    """Run ``call``; it must raise ``kind``: its message (so the test can read it)."""
    try:
        call()
    except kind as error:
        return f"{type(error).__name__}: {error}"
    raise AssertionError(f"expected {kind.__name__}")


def failing_batches(batches, after):
    """``batches``, then an error after ``after`` of them (a data pipeline that breaks)."""
    yield from batches[:after]
    raise OSError("this process's data pipeline broke")


# -- JAX ---------------------------------------------------------------------------


def loopback_gloo():
    """JAX's CPU collectives (gloo) on 127.0.0.1 (by default gloo picks the address
    the host name resolves to)."""
    import functools

    from jax._src.lib import _jax

    if not isinstance(_jax.make_gloo_tcp_collectives, functools.partial):
        _jax.make_gloo_tcp_collectives = functools.partial(
            _jax.make_gloo_tcp_collectives, hostname="127.0.0.1"
        )


def jax_fit(start, x, y, batch_size, distribution=None):
    """The classifier from ``start``, compiled with LayerwiseLR and fitted for one
    epoch (2 global batches) under ``distribution``."""
    import keras

    with distribution.scope() if distribution else contextlib.nullcontext():
        model = classifier()
        model.set_weights(start)
        model.compile(
            make_optimizer(), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return model


def jax_adapt(x, batch_size, distribution=None):
    import keras_applications_bn as kab

    with distribution.scope() if distribution else contextlib.nullcontext():
        model = float64_backbone()
        samples = kab.adapt_bn_statistics(model, x, batch_size=batch_size, verbose=0)
    return model, samples


def jax_devices(args):
    """DataParallel and ModelParallel (a layout map) over 2 CPU devices of one process."""
    import jax
    import keras
    import numpy as np

    devices = jax.devices()
    assert len(devices) == 2 and jax.process_count() == 1, devices
    assert jax.config.jax_enable_x64, "the test sets JAX_ENABLE_X64=1 (float64 statistics)"
    data_parallel = keras.distribution.DataParallel(devices=devices)
    mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], devices)
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map["(conv1|block1|block2)/kernel"] = (None, None, None, "model")  # output channels
    layout_map["head/kernel"] = ("model", None)
    model_parallel = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    distributions = {"DataParallel": data_parallel, "ModelParallel": model_parallel}
    result = {"devices": len(devices), "fit": {}, "adapt": {}}

    # weights load once for the process, and every device holds them
    with data_parallel.scope():
        model, expected = imagenet_backbone(args)
    for variable, value in zip(model.weights, expected):
        copies = device_copies(variable)
        assert len(copies) == 2, variable.path
        for copy in copies:
            np.testing.assert_array_equal(copy, value, err_msg=variable.path)
    log("MobileNet(weights='imagenet') under DataParallel: every device holds the file's weights")

    start = initial_weights()
    x, y = fit_data()
    one = jax_fit(start, x, y, GLOBAL_BATCH)
    for name, distribution in distributions.items():
        model = jax_fit(start, x, y, GLOBAL_BATCH, distribution)
        assert_pinned(model, start, name)
        assert_same_on_every_device(model, name)
        split = [v.path for v in model.weights if not v.value.sharding.is_fully_replicated]
        result["fit"][name] = {
            "vs_one_device": differences(model, one),
            "moved": moved(model, start),
            "split_weights": split,
        }
        log(f"LayerwiseLR fit under {name}: pinned, the same on every device")

    x = adapt_data()
    reference, samples = jax_adapt(x, GLOBAL_BATCH)
    assert samples == len(x)
    for name, distribution in distributions.items():
        model, samples = jax_adapt(x, GLOBAL_BATCH, distribution)
        assert samples == len(x), (name, samples)
        assert_same_on_every_device(model, f"adapt under {name}")
        result["adapt"][name] = max_relative_difference(
            bn_statistics(model), bn_statistics(reference)
        )
        log(f"adapt_bn_statistics under {name}")
    result_file(args, result, [])


def jax_process(args):
    """One of ``args["processes"]`` JAX processes, DataParallel over all their devices."""
    loopback_gloo()
    import jax
    import keras
    import numpy as np

    import keras_applications_bn as kab

    processes, index = args["processes"], args["index"]
    keras.distribution.initialize(f"127.0.0.1:{args['port']}", processes, index)
    if jax.process_count() != processes:
        raise SystemExit(
            f"started as one of {processes} processes, but JAX counts {jax.process_count()}"
        )
    log(
        f"process {index} of {processes}: {len(jax.devices())} devices, {len(jax.local_devices())} here"
    )
    # each process passes its own share of the data (NumPy arrays): nothing to shard
    data_parallel = keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    result = {"index": index, "processes": processes}

    # weights load once per process: every local device holds the file's weights
    with data_parallel.scope():
        model, expected = imagenet_backbone(args)
    for variable, value in zip(model.weights, expected):
        for copy in device_copies(variable):
            np.testing.assert_array_equal(copy, value, err_msg=variable.path)
    log("MobileNet(weights='imagenet') under DataParallel across processes")

    # LayerwiseLR: each process fits on its share of every global batch
    start = initial_weights()
    x, y = fit_data()
    one = jax_fit(start, x, y, GLOBAL_BATCH)  # one device, no distribution: the reference
    local = GLOBAL_BATCH // processes
    model = jax_fit(
        start, share(x, index, processes), share(y, index, processes), local, data_parallel
    )
    assert_pinned(model, start, "DataParallel across processes")
    assert_same_on_every_device(model, "DataParallel across processes")
    result["fit"] = {"vs_one_device": differences(model, one), "moved": moved(model, start)}
    fitted = list(weights_of(model).values())
    log("LayerwiseLR fit under DataParallel across processes")

    # adapt_bn_statistics: each process passes its share; batch_size is the global batch
    x = adapt_data()
    reference, _ = jax_adapt(x, GLOBAL_BATCH)
    expected = bn_statistics(reference)
    mine = share(x, index, processes)
    model, samples = jax_adapt(mine, GLOBAL_BATCH, data_parallel)
    statistics = bn_statistics(model)
    result["adapt"] = {"array": max_relative_difference(statistics, expected), "samples": samples}
    batches = [mine[i : i + local] for i in range(0, len(mine), local)]
    with data_parallel.scope():
        model = float64_backbone()
        assert kab.adapt_bn_statistics(model, iter(batches), verbose=0) == samples
    result["adapt"]["batches"] = max_relative_difference(bn_statistics(model), expected)
    log("adapt_bn_statistics under DataParallel across processes")

    result["errors"] = refusals(data_parallel.scope, model, batches, index)

    # partial adaptation (prior=): the processes' combined moments mixed with each layer's own
    mixed = one_device_prior(x, expected)
    with data_parallel.scope():
        partial = float64_backbone()
        kab.adapt_bn_statistics(partial, mine, batch_size=GLOBAL_BATCH, prior=PRIOR, verbose=0)
    result["adapt"]["prior"] = max_relative_difference(bn_statistics(partial), mixed)
    log(f"adapt_bn_statistics(prior={PRIOR}) under DataParallel across processes")

    # a layout that splits a weight over both processes' devices: refused on both
    mesh = keras.distribution.DeviceMesh((1, processes), ["batch", "model"], jax.devices())
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map["block2/kernel"] = (None, None, None, "model")
    split = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    with split.scope():
        model = float64_backbone()
        result["errors"]["split"] = expect_error(
            ValueError, lambda: kab.adapt_bn_statistics(model, batches, verbose=0)
        )
    result_file(args, result, fitted + statistics)


def refusals(scope, model, batches, index):
    """The bad inputs every process must refuse together (none may wait for the others)."""
    import keras_applications_bn as kab

    errors = {}
    with scope():
        errors["batch_size"] = expect_error(
            ValueError, lambda: kab.adapt_bn_statistics(model, batches[0], batch_size=7, verbose=0)
        )
        # process 1 passes one batch less than process 0
        mine = batches if index == 0 else batches[:-1]
        errors["batches"] = expect_error(
            ValueError, lambda: kab.adapt_bn_statistics(model, mine, verbose=0)
        )
        # process 1 passes images of the wrong size: refused before the pass, on both
        data = batches[0][:, :8, :8] if index == 1 else batches[0]
        kind = ValueError if index == 1 else RuntimeError
        errors["shape"] = expect_error(
            kind, lambda: kab.adapt_bn_statistics(model, data, batch_size=GLOBAL_BATCH, verbose=0)
        )
        # process 1's data pipeline breaks after one batch
        kind = OSError if index == 1 else RuntimeError
        data = failing_batches(batches, 1) if index == 1 else batches
        errors["failure"] = expect_error(
            kind, lambda: kab.adapt_bn_statistics(model, data, verbose=0)
        )
    log("bad input refused on every process")
    return errors


# -- PyTorch -------------------------------------------------------------------------


def torch_fit(start, x, y, ddp=False):
    """Keras' multi-GPU guide for PyTorch, on the CPU: the Keras model wrapped in
    DistributedDataParallel (``ddp``), a DistributedSampler giving each process its
    share of every global batch, a PyTorch loss and loop; the step is LayerwiseLR's."""
    import torch

    model = classifier()
    model.set_weights(start)
    optimizer = make_optimizer()
    optimizer.build(model.trainable_variables)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    processes = torch.distributed.get_world_size() if ddp else 1
    sampler = (
        torch.utils.data.distributed.DistributedSampler(dataset, shuffle=False) if ddp else None
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=GLOBAL_BATCH // processes, sampler=sampler, shuffle=False
    )
    net = torch.nn.parallel.DistributedDataParallel(model) if ddp else model
    loss_fn = torch.nn.CrossEntropyLoss()
    for images, labels in loader:
        loss = loss_fn(net(images, training=True), labels)
        model.zero_grad()
        loss.backward()  # DDP averages the gradients over the processes
        with torch.no_grad():
            optimizer.apply(
                [v.value.grad for v in model.trainable_variables], model.trainable_variables
            )
    return model


def torch_process(args):
    """One of ``args["processes"]`` PyTorch processes (gloo on 127.0.0.1)."""
    import datetime

    import numpy as np
    import torch
    import torch.distributed as dist

    import keras_applications_bn as kab

    processes, index = args["processes"], args["index"]
    start = initial_weights()
    x, y = fit_data()
    adapt_x = adapt_data()
    # the one-device references, before the process group exists
    one = torch_fit(start, x, y)
    reference = float64_backbone()
    assert kab.adapt_bn_statistics(reference, adapt_x, batch_size=GLOBAL_BATCH, verbose=0) == len(
        adapt_x
    )
    expected = bn_statistics(reference)
    mixed = one_device_prior(adapt_x, expected)
    log("one-device references")

    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{args['port']}",
        rank=index,
        world_size=processes,
        timeout=datetime.timedelta(seconds=args.get("collective_timeout", 120)),
    )
    if dist.get_world_size() != processes:
        raise SystemExit(
            f"started as one of {processes} processes, but the group has {dist.get_world_size()}"
        )
    result = {"index": index, "processes": processes}
    try:
        model, expected_weights = imagenet_backbone(args)
        for value, (path, loaded) in zip(expected_weights, weights_of(model).items()):
            np.testing.assert_array_equal(loaded, value, err_msg=path)
        log("MobileNet(weights='imagenet') in this process")

        model = torch_fit(start, x, y, ddp=True)
        assert_pinned(model, start, "DDP")
        result["fit"] = {"vs_one_device": differences(model, one), "moved": moved(model, start)}
        fitted = list(weights_of(model).values())
        log("LayerwiseLR under DistributedDataParallel")

        # adapt_bn_statistics: an array share (batch_size: the global batch) ...
        mine = share(adapt_x, index, processes)
        model = float64_backbone()
        samples = kab.adapt_bn_statistics(model, mine, batch_size=GLOBAL_BATCH, verbose=0)
        statistics = bn_statistics(model)
        result["adapt"] = {
            "array": max_relative_difference(statistics, expected),
            "samples": samples,
        }
        # ... and a DataLoader with a DistributedSampler, as the training reads its data
        sampler = torch.utils.data.distributed.DistributedSampler(
            torch.from_numpy(adapt_x), shuffle=False
        )
        loader = torch.utils.data.DataLoader(
            torch.from_numpy(adapt_x), batch_size=GLOBAL_BATCH // processes, sampler=sampler
        )
        model = float64_backbone()
        assert kab.adapt_bn_statistics(model, loader, verbose=0) == samples
        result["adapt"]["data_loader"] = max_relative_difference(bn_statistics(model), expected)
        log("adapt_bn_statistics across processes")

        local = GLOBAL_BATCH // processes
        batches = [mine[i : i + local] for i in range(0, len(mine), local)]
        result["errors"] = refusals(contextlib.nullcontext, model, batches, index)

        # partial adaptation (prior=): the processes' combined moments mixed with each layer's own
        partial = float64_backbone()
        kab.adapt_bn_statistics(partial, mine, batch_size=GLOBAL_BATCH, prior=PRIOR, verbose=0)
        result["adapt"]["prior"] = max_relative_difference(bn_statistics(partial), mixed)
        log(f"adapt_bn_statistics(prior={PRIOR}) across processes")
        result_file(args, result, fitted + statistics)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    import keras  # noqa: F401  (first, as in the stage: it imports the backend, which probes for TensorFlow)

    assert "tensorflow" not in sys.modules
    sys.meta_path.insert(0, _NoTensorFlow())
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    scenario, arguments = sys.argv[1], json.loads(sys.argv[2])
    {"jax_devices": jax_devices, "jax_process": jax_process, "torch_process": torch_process}[
        scenario
    ](arguments)
    log("done")
