"""The exact float64 combination of adapt_bn_statistics' batch moments, on the host.

Each batch's step returns every adapted layer's count, means and variances in
one vector (``step.stacked``); ``Moments`` adds it to the running totals of all
channels of all layers at once.
"""

import numpy as np

__all__ = ["Moments"]


class Moments:
    """Exact running count, mean and sum of squared deviations of every channel of
    every adapted layer (float64), all channels updated at once.

    Batches are combined with Chan et al.'s parallel formula, so the result is the
    mean and (biased) variance over every value seen, whatever the batch sizes.
    Each layer owns a slice of the arrays (its channels, in ``layers``' order).
    """

    def __init__(self, layers):
        self.slices, start = {}, 0
        for layer in layers:
            channels = int(layer.moving_mean.shape[0])
            self.slices[id(layer)] = slice(start, start + channels)
            start += channels
        self.count = np.zeros(start)
        self.mean = np.zeros(start)
        self.m2 = np.zeros(start)
        self._plans = {}

    def add(self, vector, layout):
        """Add one batch: ``vector`` holds each call's count, means and variances
        in turn, ``layout`` its ``(layer id, channels)`` (``step.stacked``)."""
        for where, count, mean, variance in self._plan(layout):
            keep = vector[count] > 0
            where = where[keep]
            count = vector[count[keep]]
            mean = vector[mean[keep]]
            m2 = vector[variance[keep]] * count
            total = self.count[where] + count
            delta = mean - self.mean[where]
            self.mean[where] += delta * (count / total)
            self.m2[where] = (
                self.m2[where] + m2 + np.square(delta) * (self.count[where] * count / total)
            )
            self.count[where] = total

    def _plan(self, layout):
        """Index arrays reading ``layout``'s vector: per group of calls (a layer called
        twice in a pass adds its calls in turn), the channels' positions in the
        totals and those of their count, means and variances in the vector."""
        key = tuple(layout)
        if key not in self._plans:
            groups, seen, offset = [], {}, 0
            for layer_id, channels in layout:
                rank = seen[layer_id] = seen.get(layer_id, -1) + 1
                if rank == len(groups):
                    groups.append([[], [], [], []])
                where, count, mean, variance = groups[rank]
                where.append(np.arange(channels) + self.slices[layer_id].start)
                count.append(np.full(channels, offset))
                mean.append(np.arange(channels) + offset + 1)
                variance.append(np.arange(channels) + offset + 1 + channels)
                offset += 1 + 2 * channels
            self._plans[key] = [[np.concatenate(a) for a in group] for group in groups]
        return self._plans[key]

    def get(self, layer):
        """``layer``'s ``(mean, variance)``, or ``None`` if no data reached it."""
        where = self.slices[id(layer)]
        if not np.all(self.count[where] > 0):
            return None
        return self.mean[where], self.m2[where] / self.count[where]
