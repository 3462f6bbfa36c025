"""3. Cold start (build + load weights from a local h5) and 4. import time.

Cold start: build the headless model and load the same official-layout h5 file,
``keras_applications_bn`` vs ``keras.applications``, alternately in one process
(``keras.backend.clear_session()`` before each), median of repeats.

Import time: wall time of a fresh ``python -c "import keras_applications_bn"``
over ``python -c "import keras"``, alternately, median of repeats. Our package
imports Keras (to register its BatchNormalization layer for ``load_model``) and
nothing else: model modules and tools load lazily.
"""

import argparse
import os
import subprocess
import sys
import tempfile

from common import CONTROL, MODELS, ROOT, alternate, print_table, save_results


def cold_start(repeats=3):
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in MODELS:
            path = os.path.join(tmp, f"{spec.module}_notop.h5")
            kwargs = dict(include_top=False, input_shape=spec.shape)
            with h5py.File(path, "w") as f:
                legacy_h5_format.save_weights_to_hdf5_group(f, spec.keras(weights=None, **kwargs))

            def ours():
                keras.backend.clear_session()
                spec.ours(weights=path, inference_bn=True, **kwargs)

            def theirs():
                keras.backend.clear_session()
                spec.keras(weights=path, **kwargs)

            contenders = [("ours", ours)]
            if spec is MODELS[0]:
                contenders.append((CONTROL, theirs))  # the noise floor
            for label, first in contenders:
                first(), theirs()
                t_ours, t_keras = alternate(first, theirs, repeats)
                rows.append(
                    {
                        "model": spec.fn,
                        "case": label,
                        "ours s": t_ours,
                        "keras s": t_keras,
                        "ratio": t_ours / t_keras,
                    }
                )
                print(
                    f"  {spec.fn:12s} {label:28s} cold start time ratio {t_ours / t_keras:.3f}",
                    flush=True,
                )
    return rows


def import_time(repeats=7):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")

    def timer(module):
        def run():
            subprocess.run(
                [sys.executable, "-c", f"import {module}"], env=env, check=True, capture_output=True
            )

        return run

    timer("keras")()  # warm the file-system cache
    t_ours, t_keras = alternate(timer("keras_applications_bn"), timer("keras"), repeats)
    print(f"  import time ratio {t_ours / t_keras:.3f}", flush=True)
    return [
        {
            "what": "import keras_applications_bn / import keras",
            "ours s": t_ours,
            "keras s": t_keras,
            "ratio": t_ours / t_keras,
        }
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    imports = import_time()
    cold = cold_start(repeats=args.repeats)
    print()
    print_table(cold, ["model", "case", "ours s", "keras s", "ratio"])
    print()
    print_table(imports, ["what", "ours s", "keras s", "ratio"])
    save_results("cold_start", cold)
    save_results("import", imports)


if __name__ == "__main__":
    main()
