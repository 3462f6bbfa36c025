"""Inspect a TFLite flatbuffer: what the export stage's tests check."""

import os


def tflite_op_counts(path_or_content):
    """Count the operations of a TFLite model.

    Args:
        path_or_content: the ``.tflite`` file's path, or its bytes.

    Returns:
        ``{op name: count}``, sorted by name.
    """
    import tensorflow as tf

    if isinstance(path_or_content, (bytes, bytearray)):
        interpreter = tf.lite.Interpreter(model_content=bytes(path_or_content))
    else:
        interpreter = tf.lite.Interpreter(model_path=os.fspath(path_or_content))
    counts = {}
    for op in interpreter._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return dict(sorted(counts.items()))


def tflite_affine_chains(path_or_content):
    """Count the BN-shaped ``MUL`` -> ``ADD`` chains of a TFLite model.

    Such a chain (a per-channel constant vector multiplied, then added) is what
    an unfused BN layer becomes.

    Args:
        path_or_content: the ``.tflite`` file's path, or its bytes.

    Returns:
        The number of chains.
    """
    import tensorflow as tf

    if isinstance(path_or_content, (bytes, bytearray)):
        interpreter = tf.lite.Interpreter(model_content=bytes(path_or_content))
    else:
        interpreter = tf.lite.Interpreter(model_path=os.fspath(path_or_content))
    ops = interpreter._get_ops_details()
    produced = {t for op in ops for t in op["outputs"]}
    inputs = {d["index"] for d in interpreter.get_input_details()}
    shapes = {d["index"]: tuple(d["shape"]) for d in interpreter.get_tensor_details()}

    def vector_constant(op):  # a constant of shape (C,) or (1, ..., 1, C)
        return any(
            t >= 0
            and t not in produced
            and t not in inputs
            and sum(d > 1 for d in shapes.get(t, ())) == 1
            for t in op["inputs"]
        )

    consumers = {}
    for op in ops:
        for t in op["inputs"]:
            consumers.setdefault(t, []).append(op)
    chains = 0
    for op in ops:
        if op["op_name"] == "MUL" and vector_constant(op):
            following = consumers.get(op["outputs"][0], [])
            if any(o["op_name"] == "ADD" and vector_constant(o) for o in following):
                chains += 1
    return chains
