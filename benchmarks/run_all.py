"""Run every comparison with keras.applications and print one summary table.

    python benchmarks/run_all.py [--quick] [--plot docs/performance.png]

Runs (each alternating ours and Keras, medians of repeats):
1. inference throughput (bench_inference), 2. fine-tuning step time and
5. peak memory (bench_finetune), 3. cold start and 4. import time
(bench_startup), 6. the folded model's predict and compiled-call speed (bench_fold),
7. adapt_bn_statistics against predict (bench_adapt), 8. the pinned fine-tuning step
against the folded (BN-free) one and Keras' trainable-BN one (bench_finetune).
Writes benchmarks/results/*.json, prints a Markdown table of ratios with their
targets, and draws the ratios into a PNG.
"""

import argparse
import time

import bench_adapt
import bench_finetune
import bench_fold
import bench_inference
import bench_startup

from common import environment, save_results

# (benchmark, what the ratio means, target, whether higher is better)
TARGETS = {
    "throughput": ("keras time / our time, best runs", 0.97, True),
    "step time": ("our time / keras time", 1.03, False),
    "cold start": ("our time / keras time", 1.03, False),
    "import": ("our time / keras time", 1.10, False),
    "peak memory": ("our RSS / keras RSS", 1.03, False),
    "folding": ("other time / folded time, median of paired rounds", 1.0, True),
    "adapt": ("adapt time / predict time, median of paired rounds", bench_adapt.TARGET, False),
    "pinned step": ("pinned step time / folded (no BN) step time, paired rounds", 1.02, False),
    "keras step": ("keras trainable-BN step time / pinned step time, paired rounds", 1.0, True),
}


def summarize(inference, steps, cold, imports, memory, fold=(), adapt=(), train=()):
    rows = []
    for r in inference:
        rows.append(
            (
                "throughput",
                f"{r['model']} {r['kind']}, {r['case']} (best runs; median {r['median ratio']:.2f})",
                r["ratio"],
            )
        )
    for r in steps:
        rows.append(("step time", f"{r['model']}: {r['comparison']}", r["ratio"]))
    for r in cold:
        case = "" if r["case"] == "ours" else f", {r['case']}"
        rows.append(("cold start", f"{r['model']} build + load h5{case}", r["ratio"]))
    for r in imports:
        rows.append(("import", r["what"], r["ratio"]))
    for r in memory:
        rows.append(("peak memory", f"{r['model']} fine-tuning run", r["ratio"]))
    for r in fold:
        for other in ("pinned", "keras"):
            rows.append(
                (
                    "folding",
                    f"{r['model']} {r['mode']}, folded vs {other} ({r['backend']}; quartiles {r[f'vs {other} IQR']})",
                    r[f"vs {other}"],
                )
            )
    for r in adapt:
        rows.append(
            (
                "adapt",
                f"{r['model']} {r['size']}x{r['size']}, {r['case']} (quartiles {r['IQR']}; "
                f"CPU time {r['CPU ratio']:.2f})",
                r["ratio"],
            )
        )
    for r in train:
        bench = "keras step" if r["comparison"].startswith("keras") else "pinned step"
        what = (
            f"{r['model']}: {r['comparison']} (quartiles {r['IQR']}; CPU time {r['CPU ratio']:.2f})"
        )
        rows.append((bench, what, r["ratio"]))
    out = []
    for bench, what, ratio in rows:
        meaning, target, higher = TARGETS[bench]
        if "A/A control" in what:  # no target: it shows the noise floor
            out.append(
                {
                    "benchmark": bench,
                    "case": what,
                    "ratio": ratio,
                    "target": "noise floor",
                    "meets": None,
                    "meaning": meaning,
                }
            )
            continue
        ok = ratio >= target if higher else ratio <= target
        out.append(
            {
                "benchmark": bench,
                "case": what,
                "ratio": ratio,
                "target": f"{'>=' if higher else '<='} {target}",
                "meets": ok,
                "meaning": meaning,
            }
        )
    return out


def markdown(summary, env, seconds):
    lines = [
        f"Measured on {env['machine']}; Python {env['python']}, TensorFlow {env['tensorflow']}, "
        f"Keras {env['keras']}; whole run {seconds / 60:.1f} min.",
        "",
        "| benchmark | case | ratio | target | meets |",
        "|---|---|---|---|---|",
    ]
    for r in summary:
        meets = "—" if r["meets"] is None else ("yes" if r["meets"] else "no")
        lines.append(
            f"| {r['benchmark']} | {r['case']} | {r['ratio']:.3f} | {r['target']} | {meets} |"
        )
    return "\n".join(lines)


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.32 * len(summary) + 1.2))
    labels = [f"{r['benchmark']}: {r['case']}" for r in summary]
    ratios = [r["ratio"] for r in summary]
    colors = ["#999" if r["meets"] is None else "#3a7" if r["meets"] else "#d54" for r in summary]
    ax.barh(range(len(summary)), ratios, color=colors)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(range(len(summary)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(
        "ratio (throughput: higher is better; times and memory: lower is better)", fontsize=8
    )
    ax.set_title(
        "keras-applications-bn vs keras.applications\n(green: meets target, red: misses, grey: A/A noise floor)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats (a smoke run, not for publishing)"
    )
    parser.add_argument("--plot", default=None, help="write a PNG of the ratios here")
    args = parser.parse_args()
    r = 2 if args.quick else None
    start = time.perf_counter()
    env = environment()

    def section(title):
        print(f"== {title}", flush=True)

    section("4. import time")
    imports = bench_startup.import_time(repeats=r or 7)
    section("3. cold start")
    cold = bench_startup.cold_start(repeats=r or 5)
    section("1. inference throughput")
    inference = bench_inference.run(repeats=r or 7)
    section("2. fine-tuning step time")
    steps = bench_finetune.step_times(repeats=r or 7)
    section("5. peak memory")
    memory = bench_finetune.memory(repeats=1 if args.quick else 3)
    section("6. BN folding")
    fold = bench_fold.run(rounds=r or 15)
    section("7. adapt_bn_statistics")
    adapt = bench_adapt.run(rounds=r or 5, samples=64 if args.quick else 128)
    section("8. pinned, folded and Keras trainable-BN fine-tuning steps")
    train = bench_finetune.train_steps(rounds=r or 7)
    seconds = time.perf_counter() - start
    summary = summarize(inference, steps, cold, imports, memory, fold, adapt, train)
    save_results("summary", summary, {"environment": env, "seconds": seconds})
    print()
    print(markdown(summary, env, seconds))
    if args.plot:
        plot(summary, args.plot)


if __name__ == "__main__":
    main()
