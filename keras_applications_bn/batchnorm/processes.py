"""adapt_bn_statistics across processes: JAX (keras.distribution) and PyTorch (torch.distributed).

Each process runs the pass on its own data: its share of each global batch. Each
adapted layer all-gathers every process's ``(count, mean, variance)`` and combines
them in float64, in process order, so every process normalises with, and records,
the moments of the whole global batch: the same numbers on every process. Before
the pass and before each batch the processes also agree that every one of them is
ready (passed its checks; has a batch, or has none left), so a process that runs
out of batches early or fails is an error on every process, not a collective that
waits for ever.

The gather happens on the host, inside each adapted layer's call, so across
processes the forward pass runs eagerly (``ProcessesAdaptingStep``), whatever the
single-process pass is compiled to. tf.distribute (TensorFlow) has its own path, in
``distribute.py``; the devices of one process need nothing here (each batch is one
global batch there).
"""

import contextlib

import keras
import numpy as np
from keras import ops

from keras_applications_bn.batchnorm.step import AdaptingStep

__all__ = ["Processes", "ProcessesAdaptingStep", "agreed_batches", "process_group"]


class Processes:
    """The processes one adapt_bn_statistics pass spans, and an all-gather among them.

    ``backend`` is ``"jax"`` or ``"torch"``; ``index`` is this process's number,
    ``count`` how many there are; ``device`` is where torch.distributed gathers.
    ``samples`` is the number of samples in the global batch the processes last
    agreed on (``agree``).
    """

    def __init__(self, backend, index, count, device=None):
        self.backend = backend
        self.index = index
        self.count = count
        self.samples = 0
        self._device = device

    def gather(self, values):
        """Every process's ``values`` (1-D, float64, the same length on each), stacked
        in process order: an array of shape ``(processes, len(values))``."""
        values = np.ascontiguousarray(np.ravel(values), np.float64)
        if self.backend == "torch":
            import torch
            import torch.distributed as dist

            tensor = torch.from_numpy(values).to(self._device)
            parts = [torch.empty_like(tensor) for _ in range(self.count)]
            dist.all_gather(parts, tensor)
            return np.stack([part.cpu().numpy() for part in parts])
        from jax.experimental import multihost_utils

        # as 32-bit words: exact whether or not JAX runs with 64-bit floats
        words = np.asarray(multihost_utils.process_allgather(values.view(np.uint32)), np.uint32)
        return np.ascontiguousarray(words).view(np.float64).reshape(self.count, -1)

    def moments(self, count, mean, variance):
        """``(count, mean, variance)`` of this process's batch -> those of the global
        batch (all processes' batches): exact, float64, in process order."""
        channels = int(np.size(ops.convert_to_numpy(mean)))
        local = np.concatenate(
            [
                [float(ops.convert_to_numpy(count))],
                np.ravel(ops.convert_to_numpy(mean)),
                np.ravel(ops.convert_to_numpy(variance)),
            ]
        )
        rows = self.gather(local)
        counts = rows[:, :1]
        # an empty share adds nothing
        means = np.where(counts > 0, rows[:, 1 : 1 + channels], 0.0)
        m2 = np.where(counts > 0, rows[:, 1 + channels :], 0.0) * counts
        total = float(counts.sum())
        global_mean = (counts * means).sum(axis=0) / max(total, 1.0)
        global_m2 = (m2 + counts * np.square(means - global_mean)).sum(axis=0)
        shape = ops.shape(mean)
        global_variance = global_m2 / max(total, 1.0)
        return (
            ops.convert_to_tensor(total, dtype=count.dtype),
            ops.reshape(ops.convert_to_tensor(global_mean, dtype=mean.dtype), shape),
            ops.reshape(ops.convert_to_tensor(global_variance, dtype=variance.dtype), shape),
        )

    def agree(self, status, samples=0, signature=()):
        """Check that every process is where this one is; the global number of samples.

        Args:
            status: 1 (this process has a batch of ``samples`` samples), 0 (it has
                none left) or an exception it raised.
            samples: the number of samples in this process's batch.
            signature: numbers that must be equal on every process (what it adapts).

        Returns:
            The global number of samples (0 when no process has a batch left).

        Raises:
            RuntimeError: another process failed (this one raises its own error).
            ValueError: some processes have a batch and others not, or the
                signatures differ.
        """
        error = status if isinstance(status, BaseException) else None
        rows = self.gather([-1 if error is not None else status, samples, *signature])
        failed = [i for i in range(self.count) if rows[i, 0] < 0]
        if failed:
            if error is not None:
                raise error
            raise RuntimeError(
                f"adapt_bn_statistics: process(es) {failed} of {self.count} failed (see their "
                f"error); process {self.index} stops too. No statistics were changed."
            )
        if len({tuple(row[2:]) for row in rows}) > 1:
            per_process = [tuple(int(v) for v in row[2:]) for row in rows]
            raise ValueError(
                "adapt_bn_statistics: the processes do not adapt the same BN layers "
                f"(layers and channels per process: {per_process}); "
                "call it with the same model and `layers` on every process."
            )
        have = [i for i in range(self.count) if rows[i, 0] > 0]
        if have and len(have) < self.count:
            done = [i for i in range(self.count) if rows[i, 0] == 0]
            raise ValueError(
                f"adapt_bn_statistics: the processes passed different numbers of batches: "
                f"process(es) {done} had no batch left where process(es) {have} had one. Each "
                "process passes its own share of every global batch, so every process needs "
                "the same number of batches (torch's DistributedSampler pads the data to that; "
                "for arrays, give every process as many samples). No statistics were changed."
            )
        self.samples = int(rows[:, 1].sum())
        return self.samples

    def start(self, failure=None, layers=()):
        """Before the pass: every process learns whether all passed their checks.

        ``failure`` is the exception this process's checks raised, or ``None``;
        ``layers`` are the BN layers it adapts. A refused call thus raises on
        every process (this one's own error here, a RuntimeError elsewhere), and
        processes that adapt different layers raise a ValueError.
        """
        signature = (0, 0)
        if failure is None:
            channels = sum(int(np.prod(layer.moving_mean.shape)) for layer in layers if layer.built)
            signature = (len(layers), channels)
        self.agree(1 if failure is None else failure, signature=signature)

    def local_batch(self, batch_size):
        """The per-process batch of a global ``batch_size`` (for array ``data``)."""
        if batch_size % self.count:
            raise ValueError(
                f"adapt_bn_statistics: `batch_size`={batch_size} is the global batch, split "
                f"evenly across the {self.count} processes, so it must be divisible by "
                f"{self.count}; pass a multiple of {self.count} (e.g. "
                f"{max(self.count, batch_size - batch_size % self.count)})."
            )
        return batch_size // self.count

    def local_weights(self, model):
        """A context in which ``model`` computes with this process's copies of its
        weights (JAX: a weight replicated across processes is read from the copy on
        this process's devices), so the pass runs on this process's data alone."""
        if self.backend != "jax":
            return contextlib.nullcontext()
        mapping = []
        for variable in model.variables:
            value = variable.value
            if not getattr(value, "is_fully_addressable", True):
                mapping.append((variable, value.addressable_data(0)))
        if not mapping:
            return contextlib.nullcontext()
        return keras.StatelessScope(state_mapping=mapping)


def process_group(model):
    """The processes an adapt_bn_statistics pass of ``model`` spans, or ``None``.

    PyTorch: an initialised ``torch.distributed`` process group of 2 or more
    processes (as DDP uses). JAX: a run of 2 or more processes
    (``keras.distribution.initialize``) with a ``keras.distribution`` set, or a
    model whose weights live on several processes' devices. ``None`` otherwise,
    and under TensorFlow (tf.distribute has its own path).

    Raises:
        ValueError: (JAX) weights of ``model`` are split across processes.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return None
        device = torch.device("cpu")
        if dist.get_backend() == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        return Processes("torch", dist.get_rank(), dist.get_world_size(), device)
    if backend != "jax":
        return None
    import jax

    if jax.process_count() < 2:
        return None
    # not a model: refused by the checks, on every process once they agree
    variables = model.variables if isinstance(model, keras.Model) else []
    spread = [v for v in variables if not getattr(v.value, "is_fully_addressable", True)]
    if keras.distribution.distribution() is None and not spread:
        return None
    sharded = [v.path for v in spread if not v.value.is_fully_replicated]
    if sharded:
        raise ValueError(
            f"adapt_bn_statistics: {len(sharded)} weight(s) of {model.name!r} (e.g. "
            f"{sharded[0]!r}) are split across processes (a ModelParallel layout spanning "
            "hosts); across processes the pass needs every weight replicated on every "
            "device (a DataParallel layout), or each process's weights on its own devices."
        )
    return Processes("jax", jax.process_index(), jax.process_count())


def agreed_batches(processes, batches):
    """This process's ``batches``, each once every process has agreed that it has
    its share too (``processes.samples`` then counts the global batch)."""
    batches = iter(batches)
    while True:
        try:
            x = next(batches)
            status = 1
        except StopIteration:
            x, status = None, 0
        except Exception as error:  # passed on to every process by agree()
            x, status = None, error
        processes.agree(status, 0 if x is None else len(keras.tree.flatten(x)[0]))
        if x is None:
            return
        yield x


class ProcessesAdaptingStep(AdaptingStep):
    """The forward pass across processes: eager (under PyTorch without autograd).

    Each adapted layer gathers its moments from every process on the host, inside
    its call (``Processes.moments``), which a compiled function cannot do; the
    batch's sample count is the global one the processes agreed on.
    """

    def __init__(self, model, processes):
        super().__init__(model, compile=False)
        self._processes = processes
        if keras.backend.backend() == "torch":
            import torch

            self._function = torch.no_grad()(self._forward)

    def samples(self, x):
        return self._processes.samples
