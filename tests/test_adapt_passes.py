"""The TensorFlow lane runs the backend-independent pass tests of
tests/backends/test_adapt_passes.py (``make test-backends`` runs them on JAX
and PyTorch)."""

from backends.test_adapt_passes import *  # noqa: F403
