"""Deployment: fold_batch_norm, the export paths and ``python -m keras_applications_bn export``."""

import gc
import json
import os
import zipfile

import keras
import numpy as np
import pytest
import tflite_inspect

from keras_applications_bn import BatchNormalization, fold_batch_norm
from keras_applications_bn.__main__ import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from keras_applications_bn.export import formats

from architectures import CONTRACT, compat_params, images, randomize_bn

# Families whose BN layers do not all follow a convolution: pre-activation
# blocks (ResNetV2, DenseNet: BN after an addition, a pooling, a concatenation),
# NASNet's BN after a concatenation, ResNeXt's BN after the reshape and sum of its
# grouped convolution. Every BN of the other families folds.
KEEPS_SOME_BN = {"resnet50v2", "densenet121", "nasnet_mobile", "resnext50"}


def bn_count(model):
    return sum(
        isinstance(layer, keras.layers.BatchNormalization)
        for layer in model._flatten_layers(include_self=False, recursive=True)
    )


def package_objects(model):
    """Whether the model's saved config names any class of this package."""
    return "keras_applications_bn" in json.dumps(keras.saving.serialize_keras_object(model))


def scaled_error(actual, expected):
    actual, expected = keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected)
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


@pytest.fixture
def float64():
    """Models built in float64: the fold's arithmetic is then compared without
    float32 rounding, which random-weight networks amplify layer by layer (their
    own compiled and eager float32 calls differ by up to 3e-5 of the scale)."""
    keras.backend.clear_session()
    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx("float32")
        keras.backend.clear_session()


@pytest.mark.parametrize("arch", compat_params(CONTRACT))
def test_fold_gives_the_pinned_models_outputs(arch, float64):
    model = arch.ours(weights=None, input_shape=arch.shape, inference_bn=True)
    randomize_bn(model)
    folded = fold_batch_norm(model)
    report = folded.bn_folding

    x = images(arch.shape, n=2).astype("float64")
    assert scaled_error(folded(x), model(x)) < 1e-5
    # every BN is accounted for: folded ones are gone, the others stay
    assert len(report.folded) + len(report.kept) == bn_count(model)
    assert bn_count(folded) == len(report.kept)
    if arch.id in KEEPS_SOME_BN:
        assert report.folded and report.kept
        assert all("not from a Conv" in reason for _, reason in report.kept)
    else:
        assert report.kept == []
    kept = [l for l in folded._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    assert all(type(l) is keras.layers.BatchNormalization and not l.trainable for l in kept)
    assert not package_objects(folded)  # loads with only keras


def small_model(pinned=True, keras_bn=False):
    """Every kind of fold target, and BN layers that cannot be folded."""

    def bn(x, **kwargs):
        if keras_bn:
            return keras.layers.BatchNormalization(**kwargs)(x)
        return BatchNormalization(inference_mode=pinned, **kwargs)(x)

    inp = keras.Input((8, 8, 3))
    x = bn(inp, name="bn_on_input")
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(x)
    x = bn(x, epsilon=1e-3, name="bn_conv")
    x = keras.layers.Conv2D(4, 1, activation="relu", name="conv_relu")(x)
    x = bn(x, name="bn_after_relu")
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = bn(x, epsilon=1e-3, name="bn_dw")
    y = keras.layers.SeparableConv2D(5, 3, name="sep")(x)
    y = bn(y, epsilon=1e-3, name="bn_sep")
    z = keras.layers.Conv2D(5, 1, name="conv_shared_out")(y)
    w = bn(z, name="bn_shared_out")
    z = keras.layers.Add(name="add")([z, w])
    z = keras.layers.GlobalAveragePooling2D(name="gap")(z)
    z = keras.layers.Dense(3, name="dense")(z)
    z = bn(z, epsilon=1e-3, center=False, name="bn_dense")
    model = keras.Model(inp, z, name="small")
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            values = []
            for w in layer.weights:
                n = w.path.rsplit("/", 1)[-1]
                if n == "moving_variance":  # of the order of epsilon: it matters
                    v = rng.uniform(5e-4, 3e-3, w.shape)
                elif n == "gamma":
                    v = rng.uniform(0.5, 1.5, w.shape)
                else:
                    v = rng.normal(0.0, 0.5, w.shape)
                values.append(v.astype("float32"))
            layer.set_weights(values)
    return model


@pytest.mark.compat
def test_fold_formula_and_report():
    model = small_model()
    folded = fold_batch_norm(model)
    x = images((8, 8, 3), n=3)
    # BN with variance near epsilon: a formula without epsilon (or with a wrong
    # axis, or the bias left out) is far off
    assert scaled_error(folded.predict(x, verbose=0), model.predict(x, verbose=0)) < 1e-5
    report = folded.bn_folding
    assert report.folded == [
        ("bn_conv", "conv"),
        ("bn_dw", "dw"),
        ("bn_sep", "sep"),
        ("bn_dense", "dense"),
    ]
    kept = dict(report.kept)
    assert set(kept) == {"bn_on_input", "bn_after_relu", "bn_shared_out"}
    assert "model input" in kept["bn_on_input"]
    assert "activation 'relu'" in kept["bn_after_relu"]
    assert "also feeds 'add'" in kept["bn_shared_out"]
    assert "folded: 4 of 7" in str(report)
    # folded layers got a bias; the original model is unchanged
    assert folded.get_layer("conv").use_bias and not model.get_layer("conv").use_bias
    assert bn_count(model) == 7


def test_fold_refuses_batch_statistics_unless_asked():
    model = small_model(pinned=False, keras_bn=True)
    with pytest.raises(
        ValueError, match="not in inference mode.*set_inference_bn.*moving_statistics=True"
    ):
        fold_batch_norm(model)
    folded = fold_batch_norm(model, moving_statistics=True)
    x = images((8, 8, 3), n=2)
    assert scaled_error(folded.predict(x, verbose=0), model.predict(x, verbose=0)) < 1e-5
    kept = [l for l in folded.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(kept) == 3 and not any(l.trainable for l in kept)  # inference mode
    with pytest.raises(TypeError, match="Keras model"):
        fold_batch_norm(object())
    with pytest.raises(TypeError, match="moving_statistics"):
        fold_batch_norm(model, moving_statistics="yes")


@pytest.mark.parametrize(
    "flags",
    [
        dict(fold_bn="no"),
        dict(fold_bn=1),
        dict(verbose="no"),
        dict(moving_statistics="yes"),
        dict(fold_bn=None),
    ],
    ids=lambda flags: repr(flags),
)
def test_export_flags_must_be_bools_and_nothing_is_written(flags, tmp_path, capsys):
    model = small_model()
    path = tmp_path / "x.keras"
    name = next(iter(flags))
    with pytest.raises(TypeError, match=f"`{name}` must be True or False, got {flags[name]!r}"):
        formats.export_model(model, path, "keras", **flags)
    assert not path.exists() and capsys.readouterr().out == ""
    with pytest.raises(TypeError, match="`verbose` must be True or False, got 'no'"):
        fold_batch_norm(model, verbose="no")
    assert capsys.readouterr().out == ""


def test_export_and_fold_take_numpy_bools_and_check_model_and_path(tmp_path, capsys):
    model = small_model(pinned=False, keras_bn=True)
    folded = fold_batch_norm(model, moving_statistics=np.bool_(True), verbose=np.bool_(False))
    assert len(folded.bn_folding.folded) == 4 and capsys.readouterr().out == ""
    written = formats.export_model(model, tmp_path / "x.keras", "keras", fold_bn=np.bool_(False))
    assert bn_count(written) == 7  # not folded: np.False_ is false
    written = formats.export_model(
        model,
        tmp_path / "y.keras",
        "keras",
        fold_bn=np.bool_(True),
        moving_statistics=np.bool_(True),
    )
    assert bn_count(written) == 3
    for bad, error, match in (
        (
            dict(model=model.layers[1]),
            TypeError,
            "`model` must be a Keras model, got the BatchNormalization layer",
        ),
        (dict(model="m.keras"), TypeError, "`model` must be a Keras model or layer, got 'm.keras'"),
        (dict(path=3), TypeError, "`path` must be a path .*got 3 of type int"),
        (dict(path=""), ValueError, "`path` must be a path, got an empty string"),
        (dict(format=None), TypeError, "`format` must be one of 'keras', .*got None"),
    ):
        arguments = {"model": model, "path": tmp_path / "z.keras", "format": "keras", **bad}
        with pytest.raises(error, match=match):
            formats.export_model(
                arguments.pop("model"), arguments.pop("path"), arguments.pop("format")
            )
    assert not (tmp_path / "z.keras").exists()


@pytest.mark.compat
def test_fold_nested_and_sequential(tmp_path):
    base = small_model()
    outer = keras.Sequential([keras.Input((8, 8, 3)), base, keras.layers.Dense(2, name="head")])
    folded = fold_batch_norm(outer)
    x = images((8, 8, 3), n=2)
    assert scaled_error(folded.predict(x, verbose=0), outer.predict(x, verbose=0)) < 1e-5
    assert len(folded.bn_folding.folded) == 4 and bn_count(folded) == 3
    # a .keras file of Keras' classes only
    path = str(tmp_path / "folded.keras")
    folded.save(path)
    with zipfile.ZipFile(path) as z:
        config = z.read("config.json").decode()
    assert "keras_applications_bn" not in config
    json.loads(config)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert scaled_error(reloaded.predict(x, verbose=0), outer.predict(x, verbose=0)) < 1e-5


@pytest.mark.compat
def test_cli_export_keras_with_fold(tmp_path, capsys):
    model = small_model()
    src = str(tmp_path / "model.keras")
    model.save(src)
    out = str(tmp_path / "out.keras")
    assert main(["export", src, "--to", "keras", "--fold-bn", "-o", out]) == EXIT_OK
    printed = capsys.readouterr().out
    for line in (
        "[1/3] loading",
        "[2/3] folding",
        "folded: 4 of 7",
        "[3/3] writing keras",
        "done: ",
    ):
        assert line in printed
    x = images((8, 8, 3), n=2)
    reloaded = keras.saving.load_model(out)
    assert scaled_error(reloaded.predict(x, verbose=0), model.predict(x, verbose=0)) < 1e-5
    assert bn_count(reloaded) == 3
    # default output name next to the input, never the input itself
    before = (tmp_path / "model.keras").read_bytes()
    assert main(["export", src, "--to", "keras"]) == EXIT_OK
    assert (
        os.path.isfile(tmp_path / "model.export.keras")
        and "[2/2] writing" in capsys.readouterr().out
    )
    assert (tmp_path / "model.keras").read_bytes() == before


def test_cli_export_errors(tmp_path, capsys, monkeypatch):
    not_a_model = tmp_path / "notes.keras"
    not_a_model.write_text("hello")
    assert main(["export", str(not_a_model), "--to", "keras"]) == EXIT_USAGE
    assert "could not be loaded as a Keras model" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["export", str(text), "--to", "keras"]) == EXIT_USAGE
    assert "not a Keras model file" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.keras"), "--to", "keras"]) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["export", str(text), "--to", "caffe"])
    assert e.value.code == EXIT_USAGE and "invalid choice: 'caffe'" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "tf2onnx", None)  # the extra is not installed
    assert main(["export", str(not_a_model), "--to", "onnx"]) == EXIT_FAILED
    assert 'pip install "keras-applications-bn[onnx]"' in capsys.readouterr().err
    with pytest.raises(ValueError, match="Unsupported export format 'caffe'"):
        formats.export_model(small_model(), str(tmp_path / "x"), "caffe")


def run_tflite(path, x):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=path)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def within(actual, expected, rtol=1e-4):
    """assert_same_outputs' criterion: each element within ``rtol`` of itself
    plus ``rtol`` of the outputs' scale."""
    actual, expected = keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected)
    return bool(
        np.all(np.abs(actual - expected) <= rtol * (np.abs(expected) + np.abs(expected).max()))
    )


# The export stage runs every family's exports in fresh processes, this many
# families each: TensorFlow keeps much of what a conversion allocates (traced
# graphs, the converters' MLIR contexts) until its process ends, so one process
# for all 13 families grew past this machine's 24 GiB; a process per few
# families bounds the peak at about one family's (see docs/deploy.md).
FAMILIES_PER_PROCESS = 3
# Input shapes of the export check where a family's CONTRACT shape is not used.
# At 32x32 EfficientNetV2-B0's last stages run at 1x1, where randomize_bn's
# statistics come from 8 values per channel: its random-weight activations blow
# up to 3e4-8e4 and float32 rounding to 20-50% of the output scale in every
# runtime, Keras' own predict included (measured against the same model in
# float64, seeds 0-3). At 64x64 (2x2 at the end) its scale is about 80 and
# predict is within 2.7e-4 of float64 (seed 0).
EXPORT_SHAPES = {"efficientnetv2-b0": (64, 64, 3)}
# Tolerances above the default (1e-4, or 10x the model's own eager/compiled
# difference), measured on the seed-0 models:
# - MobileNetV3Small: TFLite's and onnxruntime's hard-swish kernels differ from
#   Keras' by up to 3.5e-4 of the scale, unfolded as well.
# - EfficientNetV2-B0 (64x64): every float32 runtime is 2.1e-4 to 3.7e-4 of the
#   scale from the float64 model (Keras' predict 2.7e-4, TFLite 2.4e-4, TFLite
#   folded 3.7e-4, onnxruntime 2.2e-4 folded and unfolded), so they differ from
#   predict by up to 4.9e-4 (TFLite folded); its eager and compiled calls differ by
#   1.1e-4, so 1.1e-3 is what applies (TFLite outputs scaled by 1.005 fail it).
TOLERANCES = {"mobilenet_v3_small": 5e-4, "efficientnetv2-b0": 1e-3}


def export_family(arch, directory, onnxruntime=None):
    """Export a pinned model of ``arch`` to SavedModel, TFLite (folded and not)
    and ONNX (folded; when ``onnxruntime`` is given) and compare each runtime's
    outputs with ``predict``; return (a summary line, a list of failures)."""
    import tensorflow as tf

    failures = []

    def check(what, actual, expected, rtol):
        error = scaled_error(actual, expected)
        actual = keras.ops.convert_to_numpy(actual)
        if actual.shape != expected.shape or not np.all(np.isfinite(actual)):
            failures.append(f"{what}: shape {actual.shape} or non-finite outputs")
        elif not within(actual, expected, rtol):
            failures.append(f"{what}: {error:.2e} of the scale (tolerance {rtol:.1e})")
        return error

    keras.backend.clear_session()
    keras.utils.set_random_seed(
        0
    )  # the same random model in every run: tolerances are measured on it
    shape = EXPORT_SHAPES.get(arch.id, arch.shape)
    model = arch.ours(
        weights=None, input_shape=shape, inference_bn=True, include_top=False, pooling="avg"
    )
    randomize_bn(model)
    x = images(shape, n=2)
    expected = model.predict(x, verbose=0)
    # Random-weight networks amplify float32 rounding: Keras' own eager and
    # compiled calls of a model differ by up to 1e-4 of the output scale
    # (EfficientNetB0). The tolerance is 10x that floor where it is above 1e-5;
    # a floor above 1e-3 means the random model is chaotic at this input shape,
    # where no float32 comparison means anything: that fails (use EXPORT_SHAPES).
    floor = scaled_error(model(x), expected)
    if floor > 1e-3:
        failures.append(f"{arch.id}: eager and predict differ by {floor:.1e} of the scale")
    rtol = max(1e-4, 10 * floor, TOLERANCES.get(arch.id, 0.0))

    saved = os.path.join(directory, f"{arch.id}_savedmodel")
    formats.export_model(model, saved, "savedmodel")
    loaded = tf.saved_model.load(saved)  # kept: its functions need its variables
    check(f"{arch.id} SavedModel", loaded.serve(tf.constant(x)), expected, rtol)
    del loaded

    plain = os.path.join(directory, f"{arch.id}.tflite")
    folded_path = os.path.join(directory, f"{arch.id}_folded.tflite")
    with open(
        plain, "wb"
    ) as f:  # what export_model(model, plain, "tflite") does, from the same SavedModel
        f.write(tf.lite.TFLiteConverter.from_saved_model(saved).convert())
    folded = formats.export_model(model, folded_path, "tflite", fold_bn=True)
    out_plain, out_folded = run_tflite(plain, x), run_tflite(folded_path, x)
    e1 = check(f"{arch.id} TFLite", out_plain, expected, rtol)
    e2 = check(f"{arch.id} TFLite folded", out_folded, expected, rtol)
    e3 = check(f"{arch.id} TFLite folded vs TFLite", out_folded, out_plain, rtol)
    ops_plain, ops_folded = (
        tflite_inspect.tflite_op_counts(plain),
        tflite_inspect.tflite_op_counts(folded_path),
    )
    chains_plain = tflite_inspect.tflite_affine_chains(plain)
    chains_folded = tflite_inspect.tflite_affine_chains(folded_path)
    kept = len(folded.bn_folding.kept)
    # no BN-shaped MUL -> ADD is left but those of the BN layers that stay
    if chains_folded > kept:
        failures.append(f"{arch.id}: {chains_folded} BN-shaped MUL->ADD chains, {kept} BN kept")
    if sum(ops_folded.values()) > sum(ops_plain.values()):
        failures.append(f"{arch.id}: more TFLite ops folded {ops_folded} than not {ops_plain}")
    line = (
        f"{arch.id} {shape[0]}x{shape[1]}: ops {sum(ops_plain.values())} -> {sum(ops_folded.values())}, "
        f"MUL {ops_plain.get('MUL', 0)} -> {ops_folded.get('MUL', 0)}, "
        f"ADD {ops_plain.get('ADD', 0)} -> {ops_folded.get('ADD', 0)}, "
        f"BN-shaped MUL->ADD {chains_plain} -> {chains_folded} ({kept} BN kept); "
        f"errors (floor {floor:.1e}, tolerance {rtol:.0e}) {e1:.1e} {e2:.1e} {e3:.1e}"
    )
    if onnxruntime is not None:
        path = os.path.join(directory, f"{arch.id}.onnx")
        formats.export_model(folded, path, "onnx")  # the folded model: plain Keras layers
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
        line += f", ONNX folded {check(f'{arch.id} ONNX folded', out, expected, rtol):.1e}"
        del session
    del model, folded
    keras.backend.clear_session()
    gc.collect()
    return line, failures


def export_families(ids, directory, result):
    """Run :func:`export_family` for the families ``ids`` (in a fresh process of
    the export stage); write the lines, failures and whether the ONNX part ran
    to the JSON file ``result``."""
    import resource
    import shutil

    try:
        import onnxruntime
        import tf2onnx  # noqa: F401
    except ImportError:
        onnxruntime = None  # the optional extra is absent: that part alone is left out
    lines, failures = [], []
    for arch in [a for a in CONTRACT if a.id in ids]:
        family_dir = os.path.join(directory, arch.id)
        os.makedirs(family_dir)
        line, failed = export_family(arch, family_dir, onnxruntime)
        shutil.rmtree(family_dir)  # the files of a family are hundreds of MB
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        lines.append(f"{line} (process peak {peak:.1f} GiB)")
        failures += failed
        print(lines[-1], flush=True)
    with open(result, "w") as f:
        json.dump({"lines": lines, "failures": failures, "onnx": onnxruntime is not None}, f)


@pytest.mark.slow
@pytest.mark.export
def test_export_every_family(tmp_path):
    """SavedModel, TFLite (folded and not) and ONNX (folded) of a pinned model of
    every family give its outputs within 1e-4; prints the TFLite op counts of both.

    Random-weight networks amplify float32 rounding layer by layer: a runtime
    that sums in another order (TFLite's kernels, onnxruntime) differs from
    Keras' ``predict`` by up to about 1e-4 of the output scale on the deepest of
    them, folded or not, so each element is compared within 1e-4 of itself plus
    1e-4 of the scale (as ``assert_same_outputs``), or 10x the model's own
    eager/compiled difference where that is larger (see export_family). The
    fold's arithmetic itself is checked in float64 by
    test_fold_gives_the_pinned_models_outputs.

    The families run FAMILIES_PER_PROCESS at a time in fresh processes, one
    after the other; KAB_EXPORT_ARCHS (e.g. "resnet50,densenet121") runs a subset."""
    import subprocess
    import sys

    from conftest import REPO_ROOT, python_env

    only = os.environ.get("KAB_EXPORT_ARCHS")
    ids = [a.id for a in CONTRACT if not only or a.id in only.split(",")]
    assert ids, f"KAB_EXPORT_ARCHS={only!r} names no family of {[a.id for a in CONTRACT]}"
    lines, failures, onnx = [], [], True
    for start in range(0, len(ids), FAMILIES_PER_PROCESS):
        chunk = ids[start : start + FAMILIES_PER_PROCESS]
        result = tmp_path / f"result{start}.json"
        code = (
            "import sys; sys.path.insert(0, 'tests'); import test_deploy; "
            f"test_deploy.export_families({chunk!r}, {str(tmp_path)!r}, {str(result)!r})"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=python_env(),
            capture_output=True,
            text=True,
            timeout=3600,
        )
        print(proc.stdout, end="", flush=True)
        if proc.returncode != 0 or not result.exists():
            pytest.fail(
                f"export of {chunk} failed ({proc.returncode})\n{proc.stdout}\n--- stderr\n{proc.stderr[-5000:]}"
            )
        data = json.loads(result.read_text())
        lines += data["lines"]
        failures += data["failures"]
        onnx = onnx and data["onnx"]
    assert len(lines) == len(ids)
    assert not failures, failures
    if not onnx:
        pytest.skip("ONNX part not run: the onnx extra (tf2onnx, onnxruntime) is not installed")
