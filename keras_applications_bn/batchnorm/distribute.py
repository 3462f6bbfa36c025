"""tf.distribute plumbing of adapt_bn_statistics (TensorFlow backend only).

Each replica runs the pass on its share of every global batch, split as the
strategy splits it; each adapted layer all-reduces its moments across replicas
and workers before normalising (as SyncBN does), so every replica normalises
with, and reports, the moments of the whole global batch. Everything that
combines moments or splits batches across tf.distribute's devices and workers
lives here; across the processes of JAX and PyTorch, ``processes.py``.
"""

import keras

from keras_applications_bn.batchnorm.data import features, is_array, iterable_dataset
from keras_applications_bn.batchnorm.step import AdaptingStep

__all__ = [
    "DistributedAdaptingStep",
    "cross_replica_moments",
    "in_replicas",
    "distributed_batches",
    "distribution_strategy",
]


def distribution_strategy(model):
    """The tf.distribute strategy to run the pass under, or ``None``.

    The strategy in scope, else the one that holds ``model``'s variables (a model
    built under ``strategy.scope()`` and adapted outside it). ``None`` on other
    backends, and inside ``strategy.run`` (the pass then runs as it is called).
    """
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return tf.distribute.get_strategy() if tf.distribute.in_cross_replica_context() else None
    for variable in model.weights:
        value = getattr(variable, "value", variable)
        if isinstance(value, tf.distribute.DistributedValues):
            return value.distribute_strategy
    return None


def in_replicas():
    """Whether this runs in one of several replicas (TensorFlow), whose moments
    `cross_replica_moments` combines."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return context is not None and context.num_replicas_in_sync > 1


def cross_replica_moments(count, mean, variance):
    """``(count, mean, variance)`` of one replica's batch -> those of the global batch.

    Exact (Chan's parallel formula, in float64): the global mean is the
    count-weighted mean of the replicas' means, and the sum of squared deviations
    adds each replica's own to ``count * (mean - global mean)**2``. A no-op
    outside a TensorFlow replica context with several replicas.
    """
    if keras.backend.backend() != "tensorflow":
        return count, mean, variance
    if not in_replicas():
        return count, mean, variance
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    total_sum = tf.distribute.ReduceOp.SUM
    n = tf.cast(count, tf.float64)
    # a replica with no samples (a short last batch) adds nothing
    local_mean = tf.where(n > 0, tf.cast(mean, tf.float64), 0.0)
    local_m2 = tf.where(n > 0, tf.cast(variance, tf.float64) * n, 0.0)
    total, weighted = context.all_reduce(total_sum, [n, n * local_mean])
    global_mean = tf.math.divide_no_nan(weighted, total)
    m2 = context.all_reduce(total_sum, local_m2 + n * tf.square(local_mean - global_mean))
    global_variance = tf.math.divide_no_nan(m2, total)
    return total, tf.cast(global_mean, mean.dtype), tf.cast(global_variance, variance.dtype)


class DistributedAdaptingStep(AdaptingStep):
    """The compiled pass under ``strategy``: every replica runs its share of the
    global batch; all report the global moments, and the first one's are kept."""

    def __init__(self, model, strategy):
        import tensorflow as tf

        super().__init__(model)
        self._strategy = strategy
        self._function = tf.function(self._distributed, reduce_retracing=True)
        self._samples = 0

    def _replica(self, item):
        import tensorflow as tf

        x = features(item)
        size = tf.cast(tf.shape(tf.nest.flatten(x)[0])[0], tf.float64)
        context = tf.distribute.get_replica_context()
        return context.all_reduce(tf.distribute.ReduceOp.SUM, size), self._forward(x)

    def _distributed(self, item):
        outputs = self._strategy.run(self._replica, args=(item,))
        return self._strategy.experimental_local_results(outputs)[0]

    def __call__(self, adaptation, x):
        samples, results = super().__call__(adaptation, x)
        self._samples = int(samples)
        return results

    def samples(self, x):
        return self._samples


def distributed_batches(strategy, data, batch_size, expected):
    """``data`` as the strategy splits it: each global batch across replicas and workers.

    A NumPy array is batched by ``batch_size`` (the global batch); a
    ``tf.data.Dataset`` is distributed with its own options; an already
    distributed dataset is used as it is; other iterables become a dataset.
    """
    import tensorflow as tf

    if isinstance(data, tf.distribute.DistributedDataset):
        return iter(data)
    if isinstance(data, tf.data.Dataset):
        return iter(strategy.experimental_distribute_dataset(data))
    if is_array(data):
        dataset = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    else:
        dataset = iterable_dataset(data, expected)
        if dataset is None:
            return iter(())
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))
