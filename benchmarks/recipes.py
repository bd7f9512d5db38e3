"""Which training recipe generalizes? Each idea trained on the same split, judged on validation and the shift
benchmark (never on test), side by side in one run.

    python benchmarks/recipes.py --data ../shared/data/chest_xray --weights-dir ../shared/weights \
        --backbone mobilenet_v2 --image-size 224 --out results/recipes

Writes ``<out>/<backbone>.csv`` / ``.md``: per recipe, validation AUC, the shift benchmark's clean, robust and
worst AUC and specificity under shift on validation images, and training seconds; ``<backbone>_shifts.csv`` (also
in the ``.md``): each recipe's AUC per shift, so a gain can be traced to the shifts it comes from. Trained runs go
to ``runs/recipes/<backbone>/`` (not committed). Dev-test figures are printed nowhere here on purpose.

``--seeds 42 1 2`` trains every recipe once per training seed (initial weights, batch order, dropout,
augmentation and views; the patient split and the benchmark's images stay fixed) and writes
``<backbone>_seeds.csv`` / ``.md``: each run, then each recipe's mean and standard deviation over the seeds, so a
difference between recipes can be read against the spread one recipe shows from seed to seed.
"""

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from pneumonet.experiment import Experiment, prepare_catalog, run_experiment  # noqa: E402
from pneumonet.io import read_json, write_csv, write_text  # noqa: E402
from pneumonet.lineup import cnn_baseline  # noqa: E402
from pneumonet.models.heads import get_head  # noqa: E402
from pneumonet.pipelines import Augment  # noqa: E402
from pneumonet.robustness import run_shift_benchmark  # noqa: E402
from pneumonet.training import TrainConfig  # noqa: E402


def recipes(backbone, head, image_size, unfreeze_last, epochs, smoke=False):
    """Today's recipe and the ideas of the generalization issue, one change at a time, then together.

    ``backbone="cnn"``: the line-up's CNN baseline (from scratch, geometric augmentation every epoch) is today's
    recipe, and the same ideas are added to it (views there add the photometric changes the affine layer lacks).
    """
    if backbone == "cnn":
        today = dataclasses.replace(cnn_baseline(image_size=image_size, epochs=epochs, smoke=smoke), name="today")
        base = today.train
    else:
        base = TrainConfig(epochs_head=1 if smoke else epochs, epochs_finetune=1 if smoke else 3,
                           unfreeze_last=unfreeze_last, lr_head=1e-3, lr_finetune=1e-5, patience=4)
        today = Experiment("today", backbone=backbone, head=head, image_size=image_size, train=base)
    fewer = dataclasses.replace(base, epochs_head=1 if smoke else max(2, epochs // 2))  # views double each epoch
    fewest = dataclasses.replace(base, epochs_head=1 if smoke else max(2, epochs // 3))
    regularized = dict(label_smoothing=0.1, weight_decay=1e-4)
    wider_zoom = Augment(zoom=0.25)  # framing from 0.8x to 1.33x, where today's recipe reaches 0.9x to 1.1x

    def variant(name, train, views=0, border=0.0, augmentation=today.augmentation, size=image_size,
                head=today.head, content_crop=False):
        return dataclasses.replace(today, name=name, train=train, views=views, border=border,
                                   augmentation=augmentation, image_size=size, head=head, content_crop=content_crop)

    return [
        today,
        variant("regularized", dataclasses.replace(base, **regularized)),
        variant("views1", fewer, views=1),
        variant("views1_all_epochs", base, views=1),  # twice today's training steps
        variant("views1_regularized", dataclasses.replace(fewer, **regularized), views=1),
        variant("views2_regularized", dataclasses.replace(fewest, **regularized), views=2),
        # the image border (text markers, collimation edges) blacked out inside the model
        variant("views1_regularized_border", dataclasses.replace(fewer, **regularized), views=1, border=0.08),
        variant("views2_regularized_border", dataclasses.replace(fewest, **regularized), views=2, border=0.08),
        # tighter and looser framing (the CNN's weakest shift) imitated in training
        variant("zoom", base, augmentation=wider_zoom),
        variant("views1_regularized_zoom", dataclasses.replace(fewer, **regularized), views=1,
                augmentation=wider_zoom),
        # the CNN's own recipe with the border blacked out, then with wider framing too
        variant("border", base, border=0.08),
        variant("zoom_border", base, border=0.08, augmentation=wider_zoom),
        # every image cropped to its content inside the model: the black background beside the body, which tells
        # the classes apart in this data set (notebook 01), is gone; alone, then with the line-up's transfer recipe
        variant("content_crop", base, content_crop=True),
        variant("views1_regularized_crop", dataclasses.replace(fewer, **regularized), views=1, content_crop=True),
        # finer detail: 1.25x today's resolution (the CNN's 128 px to 160 px), same recipe otherwise
        variant("larger", base, size=round(image_size * 1.25)),
        # a Flatten head (the CNN's) gives every position its own weights, so framing shifts (crop, pad) move
        # features onto weights trained for other places; a global average pools them wherever they are (only
        # for a head that flattens: a pooled one would repeat today's recipe)
        *([variant("gap_head", base, head="gap_dense_dropout")] if get_head(today.head).pooling == "flatten" else []),
    ]


# the figures a recipe is judged by, summarized over seeds
JUDGED = ["val_auc", "robust_auc", "held_out_auc", "worst_auc", "specificity_shifted"]


def summarize_seeds(table):
    """Per recipe (in the table's order): the number of seeds, then mean and standard deviation (ddof=1) of each
    judged figure over the seeds."""
    grouped = table.groupby("recipe", sort=False)[JUDGED]
    summary = grouped.agg(["mean", "std"]).round(4)
    summary.columns = [f"{figure}_{stat}" for figure, stat in summary.columns]
    summary.insert(0, "seeds", grouped.size())
    return summary.reset_index()


def per_shift(frame):
    """Mean AUC per recipe (rows, in the frame's order) and shift (columns, clean first) over severities and
    seeds, from ``run_shift_benchmark`` frames with ``recipe`` and ``seed`` columns."""
    table = frame.pivot_table(index="recipe", columns="shift", values="auc", aggfunc="mean", sort=False)
    return table[["none"] + [c for c in table.columns if c != "none"]].rename(columns={"none": "clean"}).round(4)


def with_seed(experiment, seed):
    """The experiment trained from another seed, in its own run folder."""
    return dataclasses.replace(experiment, name=f"{experiment.name}_seed{seed}",
                               train=dataclasses.replace(experiment.train, seed=seed))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights-dir")
    parser.add_argument("--backbone", default="mobilenet_v2", help='a registered backbone, or "cnn" (the baseline)')
    parser.add_argument("--head", default="gap_dense_dropout")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--unfreeze-last", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--only", nargs="+", help="recipe names to run (default: all)")
    parser.add_argument("--n-images", type=int, default=200, help="validation images in the shift benchmark")
    parser.add_argument("--runs", default="runs/recipes")
    parser.add_argument("--out", default="results/recipes")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="train each recipe once per seed and summarize mean and spread (default: one run, "
                             "the recipe's own seed)")
    parser.add_argument("--reuse", action="store_true", help="keep recipes already trained in --runs (benchmark only)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()

    catalog = prepare_catalog(args.data, progress=False)
    runs_dir = Path(args.runs) / args.backbone
    rows, shifts = [], []
    chosen = [e for e in recipes(args.backbone, args.head, args.image_size, args.unfreeze_last, args.epochs,
                                 args.smoke) if not args.only or e.name in args.only]
    runs = [(e.name, with_seed(e, seed)) for e in chosen for seed in args.seeds] if args.seeds else \
        [(e.name, e) for e in chosen]
    for recipe, experiment in runs:
        if args.smoke:  # no pretrained weights (the CNN baseline has none anyway)
            experiment = dataclasses.replace(experiment, weights=None)
        start = time.time()
        finished = runs_dir / experiment.name / "metrics.json"
        if args.reuse and finished.exists() and (runs_dir / experiment.name / "model.keras").exists():
            record = read_json(finished)
            seconds = record["total_seconds"]
        else:
            record = run_experiment(experiment, catalog, runs_dir, weights_dir=args.weights_dir, n_boot=50,
                                    overwrite=True, verbose=0)
            seconds = time.time() - start
        frame, summary = run_shift_benchmark(runs_dir, catalog, runs=[experiment.name], n_per_split=args.n_images,
                                         splits=("val",))
        shift = summary.iloc[0]
        shift = {k: (float(v) if isinstance(v, float) else v) for k, v in shift.items()}
        rows.append({"recipe": recipe, "seed": experiment.train.seed, "image_size": experiment.image_size,
                     "head": experiment.head, "views": experiment.views,
                     "border": experiment.border, "content_crop": experiment.content_crop,
                     "zoom": experiment.augmentation.zoom,
                     "label_smoothing": experiment.train.label_smoothing,
                     "weight_decay": experiment.train.weight_decay, "epochs_head": experiment.train.epochs_head,
                     "val_auc": round(record["val"]["roc_auc"], 4), "shift_clean_auc": round(shift["clean_auc"], 4),
                     "robust_auc": round(shift["robust_auc"], 4),
                     "held_out_auc": round(shift["held_out_auc"], 4), "worst_auc": round(shift["worst_auc"], 4),
                     "worst_shift": shift["worst_shift"],
                     "specificity_clean": round(shift["clean_specificity"], 4),
                     "specificity_shifted": round(shift["shifted_specificity"], 4),
                     "train_seconds": round(seconds)})
        shifts.append(frame.assign(recipe=recipe, seed=experiment.train.seed))
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    stem = f"{args.backbone}_seeds" if args.seeds else args.backbone
    text = (f"# Recipes for {args.backbone} ({'SMOKE, ' if args.smoke else ''}"
            f"`{' '.join(sys.argv)}`)\n\nValidation split (patient-level, carved out of train) and the shift "
            f"benchmark on {args.n_images} validation images (11 shifts x 3 severities); robust AUC = mean "
            "over the 33 shifted conditions, held-out AUC = mean over the shifts no training augmentation "
            "imitates (resolution, jpeg, marker, mask); specificity at each run's validation threshold. No test "
            f"figures.\n\n{table.to_markdown(index=False)}\n")
    by_shift = per_shift(pd.concat(shifts, ignore_index=True))
    text += ("\n## AUC per shift (mean over severities 1-3 and seeds)\n\nWhich shifts a recipe gains or loses on: "
             "a gain on a shift the recipe imitates in training, or that its preprocessing removes by construction "
             "(a border mask and the `marker` and `mask` shifts; a content crop and the `pad` shift), is not "
             "evidence that it generalizes.\n\n"
             f"{by_shift.to_markdown()}\n")
    write_csv(out / f"{stem}_shifts.csv", by_shift.reset_index())
    if args.seeds:
        summary = summarize_seeds(table)
        write_csv(out / f"{stem}_summary.csv", summary)
        text += (f"\n## Over the seeds {', '.join(map(str, args.seeds))}: mean and standard deviation\n\n"
                 f"{summary.to_markdown(index=False)}\n")
        print(summary.to_string(index=False))
    write_csv(out / f"{stem}.csv", table)
    write_text(out / f"{stem}.md", text)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
