import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "keras_applications_bn" / "__init__.py").read_text(), re.M
).group(1)

# tf_keras: tests/test_tf_keras.py checks that tf_keras objects are refused.
# keras_applications 1.0.8: the reference of its API and of ResNeXt (tests/test_legacy.py)
# keras-hub: tests/test_keras_hub.py (0.32.0 installs without changing keras/tensorflow/numpy)
TEST_EXTRAS = [
    "pytest>=7.3",
    "pytest-xdist>=3",
    "scikit-learn>=1.3",
    "mlxtend>=0.23",
    "scikit-image>=0.21",
    "tf_keras",
    "keras_applications==1.0.8",
    "keras-hub==0.32.0",
]
# The backend stage (`make test-backends`): tests/backends under JAX and PyTorch.
# torch is pinned to the CPU build that pip finds on the CI machine (a plain
# `torch` would pull a multi-GB CUDA build); jax from PyPI runs on the CPU.
# keras_applications 1.0.8 builds ResNeXt's reference model (tests/architectures.py);
# keras-hub's backbones run there too, and without TensorFlow KerasHub's `fit`
# reads its data with grain (the [grain] extra).
BACKEND_EXTRAS = [
    "pytest>=7.3",
    "torch==2.13.0",
    "jax",
    "keras_applications==1.0.8",
    "keras-hub[grain]==0.32.0",
]
# The compatibility stage (`make test-compat`): only what its subset of the suite
# (the tests marked compat) needs besides the package: pytest, its workers, and
# keras_applications 1.0.8 for ResNeXt's reference model.
COMPAT_EXTRAS = ["pytest>=7.3", "pytest-xdist>=3", "keras_applications==1.0.8"]

setup(
    name="keras-applications-bn",
    version=VERSION,
    description=(
        "Keras applications (ResNet, VGG, Inception, MobileNet, ...) whose "
        "BatchNormalization layers can be pinned to inference mode for fine-tuning."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["keras_applications_bn", "keras_applications_bn.*"]),
    python_requires=">=3.10",
    # The floors are the oldest versions `make test-compat` runs (and that
    # keras_applications_bn/_models/versions.py checks at import): Keras 3.0.0-3.3.2
    # have no clone_model(call_function=...), which to_keras and fold_batch_norm need.
    install_requires=["tensorflow>=2.16.1", "keras>=3.3.3", "numpy", "h5py"],
    extras_require={
        "demo": ["scikit-learn>=1.3", "mlxtend>=0.23"],
        "examples": ["scikit-learn>=1.3", "mlxtend>=0.23", "scikit-image>=0.21", "matplotlib>=3.7"],
        "test": TEST_EXTRAS,
        "backends": BACKEND_EXTRAS,
        "compat": COMPAT_EXTRAS,
        "bench": ["matplotlib>=3.7"],
        # `make lint`: one pinned ruff, so that a new release's rules never fail CI by surprise
        "lint": ["ruff==0.17.6"],
        # `export --to onnx` / export_model(..., "onnx"): Keras' ONNX export runs tf2onnx;
        # onnxruntime runs the file (and the export test)
        "onnx": ["tf2onnx>=1.16", "onnx", "onnxruntime"],
        # `make docs`: the site (mkdocs-material) and its API reference (mkdocstrings)
        "docs": ["mkdocs>=1.6,<2", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
