"""The ``pneumonet`` command: data, train, evaluate, predict, run. ``pneumonet COMMAND --help`` for each."""

import argparse
import json
import os
import sys
from pathlib import Path


def _cmd_data(args):
    from pneumonet.data import assign_subsets, build_catalog, inspect_images, summarize, write_synthetic_dataset

    if args.synthetic:
        path = write_synthetic_dataset(args.synthetic, image_size=args.synthetic_size, seed=args.seed)
        print(f"wrote a synthetic data set to {path}")
        return 0
    catalog = assign_subsets(inspect_images(build_catalog(args.data)), val_fraction=args.val_fraction,
                             seed=args.seed)
    summary = summarize(catalog)
    for key in ("counts", "subtypes", "patients", "modes"):
        print(f"\n== {key} ==\n{summary[key]}")
    print(f"\nunreadable: {summary['unreadable']}, stray files skipped: {summary['skipped_files']}, "
          f"duplicate groups: {summary['duplicate_groups']}")
    for _, row in catalog[catalog["error"].notna()].iterrows():
        print(f"  unreadable {row['path']}: {row['error']}")
    for path in catalog.attrs.get("skipped_paths", []):
        print(f"  skipped {path}: not an image file")
    for folder in catalog.attrs.get("extra_folders", []):
        print(f"  not read: {folder} (only NORMAL and PNEUMONIA are classes)")
    print("\n== patient-level subsets ==")
    print(catalog.groupby(["subset", "class_name"]).size().unstack())
    if args.output:
        from pneumonet.io import write_csv

        write_csv(args.output, catalog)
        print(f"catalog written to {args.output}")
    return 0


def _cmd_train(args):
    from pneumonet.experiment import Experiment, prepare_catalog, run_experiment
    from pneumonet.training import TrainConfig

    weights = None if args.weights in (None, "none", "None") else args.weights
    config = TrainConfig(epochs_head=args.epochs, epochs_finetune=args.finetune_epochs, lr_head=args.lr,
                         lr_finetune=args.lr_finetune, unfreeze_last=args.unfreeze_last, batch_size=args.batch_size,
                         seed=args.seed, label_smoothing=args.label_smoothing, weight_decay=args.weight_decay)
    experiment = Experiment(args.name or args.backbone, args.backbone, head=args.head, weights=weights,
                            image_size=args.image_size, pipeline=args.pipeline, augment=args.augment,
                            augment_on=args.augment_on, views=args.views, train=config)
    catalog = prepare_catalog(args.data, val_fraction=args.val_fraction, seed=args.seed)
    for path, reason in catalog.attrs.get("unreadable", {}).items():
        print(f"pneumonet train: skipped {path}: {reason}", file=sys.stderr)
    record = run_experiment(experiment, catalog, args.results, weights_dir=args.weights_dir,
                            cache_dir=args.cache_dir, n_boot=args.n_boot, overwrite=args.overwrite,
                            resume=args.resume, verbose=args.verbose)
    t = record["test"]
    print(f"{experiment.name}: threshold {record['threshold']:.3f} (chosen on val); test AUC "
          f"{t['roc_auc']['value']:.3f} [{t['roc_auc']['low']:.3f}, {t['roc_auc']['high']:.3f}], sensitivity "
          f"{t['sensitivity']['value']:.3f}, specificity {t['specificity']['value']:.3f}; results in "
          f"{Path(args.results) / experiment.name}")
    return 0


def _cmd_evaluate(args):
    from pneumonet.evaluation import load_runs, write_summary

    skipped = {}
    runs = load_runs(args.results, skipped=skipped)
    for path, reason in skipped.items():
        print(f"pneumonet evaluate: skipped {path}: {reason}", file=sys.stderr)
    table = write_summary(args.results, runs)
    print(table[["model", "threshold", "Accuracy", "Sensitivity", "Specificity", "AUC", "False negatives"]]
          .to_string(index=False))
    print(f"\nwritten: {Path(args.results) / 'summary.csv'} and summary.md")
    return 0


def _cmd_predict(args):
    import numpy as np

    from pneumonet.data import load_image
    from pneumonet.errors import ImageLoadError
    from pneumonet.evaluation import positive_probability
    from pneumonet.models import check_against_record, load_model

    model, meta = load_model(args.model)
    mismatch = check_against_record(args.model)
    if mismatch:
        print(f"pneumonet predict: WARNING {mismatch}", file=sys.stderr)
    threshold = args.threshold if args.threshold is not None else meta.get("threshold", 0.5)
    size = tuple(meta.get("image_size") or model.input.shape[1:3])
    rows, images, failures = [], [], 0
    for path in args.images:
        try:
            images.append(load_image(path, size))
            rows.append(path)
        except ImageLoadError as exc:
            failures += 1
            print(f"{path}: ERROR {exc.reason}", file=sys.stderr)
    if images:
        batch = np.stack(images)[..., None].astype("float32")
        probs = positive_probability(model.predict(batch, verbose=0))
        for path, p in zip(rows, probs):
            decision = "PNEUMONIA" if p >= threshold else "NORMAL"
            print(json.dumps({"image": path, "p_pneumonia": round(float(p), 4), "threshold": round(threshold, 4),
                              "decision": decision}))
        if args.gradcam:
            from pneumonet.explain import gradcam, plot_gradcam_grid
            from pneumonet.io import save_figure

            axes = plot_gradcam_grid(batch, gradcam(model, batch),
                                     [f"{Path(r).name} p={p:.2f}" for r, p in zip(rows, probs)],
                                     ncols=min(4, len(rows)))
            save_figure(axes.ravel()[0].figure, args.gradcam)
            print(f"Grad-CAM written to {args.gradcam}")
    return 1 if failures else 0


def _cmd_robustness(args):
    from pneumonet.experiment import prepare_catalog
    from pneumonet.io import save_figure
    from pneumonet.plots import plot_robustness
    from pneumonet.robustness import run_shift_benchmark

    catalog = prepare_catalog(args.data, val_fraction=args.val_fraction, seed=args.seed, progress=False)
    frame, summary = run_shift_benchmark(args.results, catalog, runs=args.runs, n_per_split=args.n_images,
                                         severities=tuple(args.severities), cache_dir=args.cache_dir)
    for split in summary["split"].unique():
        axes = plot_robustness(frame, split=split)
        save_figure(axes[0].figure, Path(args.results) / f"robustness_{split}.png")
    print(summary[["run", "split", "clean_auc", "robust_auc", "worst_auc", "worst_shift", "clean_specificity",
                   "shifted_specificity"]].round(3).to_string(index=False))
    print(f"\nwritten: {Path(args.results) / 'robustness.csv'}, robustness_summary.csv, robustness_<split>.png")
    return 0


def _cmd_run(args):
    from pneumonet.runner import main_job

    params = {k: v for k, v in {"weights_dir": args.weights_dir, "cache_dir": args.cache_dir,
                                "pipeline": args.pipeline, "smoke": args.smoke or None, "n_boot": args.n_boot,
                                "backbones": args.backbones}.items() if v is not None}
    results, timings = main_job(args.data, args.results, params, download=args.download, overwrite=args.overwrite)
    print(f"all notebooks ran in {sum(timings.values()):.0f} s; results in {results}")
    return 0


def _number(kind, low=None, high=None, low_open=False):
    """An argparse type: ``kind`` (int or float) within [low, high] (``low_open``: strictly above low)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
        if low is not None and (value <= low if low_open else value < low) or high is not None and value > high:
            bounds = f"{'above' if low_open else 'at least'} {low}" if high is None else f"in ({low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value
    return parse


def build_parser():
    from pneumonet.models.heads import HEADS
    from pneumonet.models.registry import BACKBONES

    parser = argparse.ArgumentParser(prog="pneumonet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, data=True):
        if data:
            p.add_argument("--data", default=None, help="data folder (Kaggle layout); default $PNEUMONET_DATA or "
                                                        "data/chest_xray")
        p.add_argument("--seed", type=int, default=42)

    p = sub.add_parser("data", help="catalog summary and the patient-level validation split")
    common(p)
    p.add_argument("--val-fraction", type=_number(float, 0, 0.5, low_open=True), default=0.2)
    p.add_argument("--output", help="write the catalog (with subsets) to this CSV")
    p.add_argument("--synthetic", metavar="DIR", help="write a synthetic data set to DIR instead")
    p.add_argument("--synthetic-size", type=_number(int, 16), default=64)
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("train", help="train and evaluate one model into results/<name>/")
    common(p)
    p.add_argument("--backbone", required=True, choices=sorted(BACKBONES), metavar="BACKBONE",
                   help=f"one of: {', '.join(sorted(BACKBONES))}")
    p.add_argument("--head", default="gap_dense_dropout", choices=sorted(HEADS), metavar="HEAD",
                   help=f"one of: {', '.join(sorted(HEADS))} (default gap_dense_dropout)")
    p.add_argument("--views", type=_number(int, 0), default=0,
                   help="augmented views of each training image, drawn once (cached training; default 0)")
    p.add_argument("--label-smoothing", type=_number(float, 0), default=0.0)
    p.add_argument("--weight-decay", type=_number(float, 0), default=0.0)
    p.add_argument("--weights", default="imagenet", help="imagenet, none, or a weights file")
    p.add_argument("--weights-dir", help="folder with <backbone>_notop.weights.h5 ($PNEUMONET_WEIGHTS)")
    p.add_argument("--image-size", type=_number(int, 16), default=224)
    p.add_argument("--pipeline", choices=("fast", "classic"), default="fast")
    p.add_argument("--augment", action="store_true", help="rotation, shift, shear, zoom, brightness (no flips)")
    p.add_argument("--augment-on", choices=("model", "pipeline"), default="model",
                   help="model: an AffineAugment layer (fast everywhere); pipeline: a CPU warp per image")
    p.add_argument("--epochs", type=_number(int, 1), default=10, help="phase-1 (head) epochs")
    p.add_argument("--finetune-epochs", type=_number(int, 0), default=3)
    p.add_argument("--unfreeze-last", type=_number(int, 0), default=4)
    p.add_argument("--lr", type=_number(float, 0, low_open=True), default=1e-3)
    p.add_argument("--lr-finetune", type=_number(float, 0, low_open=True), default=1e-5)
    p.add_argument("--batch-size", type=_number(int, 1), default=32)
    p.add_argument("--val-fraction", type=_number(float, 0, 0.5, low_open=True), default=0.2)
    p.add_argument("--n-boot", type=_number(int, 2), default=1000)
    p.add_argument("--name", help="run name (default: the backbone)")
    p.add_argument("--results", default="runs", help="the run goes to RESULTS/NAME (default runs/)")
    p.add_argument("--cache-dir")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run of the same name")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last epoch")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="summary table across the runs in a results folder")
    p.add_argument("--results", default="runs", help="folder whose */metrics.json are summarised (default runs/)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("robustness", help="shift benchmark: every trained run under synthetic acquisition shifts")
    common(p)
    p.add_argument("--results", default="runs", help="folder of trained runs (*/model.keras + metrics.json)")
    p.add_argument("--runs", nargs="+", help="run names (default: every trained run in --results)")
    p.add_argument("--n-images", type=_number(int, 2), default=64, help="images per split, half of each class")
    p.add_argument("--severities", type=int, nargs="+", default=[1, 2, 3], choices=(1, 2, 3))
    p.add_argument("--val-fraction", type=_number(float, 0, 0.5, low_open=True), default=0.2,
                   help="as the runs were trained (default 0.2)")
    p.add_argument("--cache-dir")
    p.set_defaults(func=_cmd_robustness)

    p = sub.add_parser("predict", help="probability and decision for images with a saved .keras model")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", required=True, help="a model.keras written by pneumonet")
    p.add_argument("--threshold", type=float, help="override the threshold stored with the model")
    p.add_argument("--gradcam", metavar="OUT.png", help="also write Grad-CAM overlays")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("run", help="the main job: the five notebooks in order (demo when no data)")
    common(p)
    p.add_argument("--results", help="results folder (default: a new runs/main-<time>); an existing one is "
                                     "replaced only with --overwrite, and only once every notebook has run")
    p.add_argument("--weights-dir")
    p.add_argument("--cache-dir")
    p.add_argument("--pipeline", choices=("fast", "classic"))
    p.add_argument("--backbones", nargs="+")
    p.add_argument("--n-boot", type=_number(int, 2))
    p.add_argument("--smoke", action="store_true", help="tiny images, one epoch, no pretrained weights")
    p.add_argument("--overwrite", action="store_true", help="replace the results folder when the job succeeds")
    p.add_argument("--download", action="store_true", help="download the data with kagglehub when missing")
    p.set_defaults(func=_cmd_run)
    return parser


def main(argv=None):
    from pneumonet import quiet_tensorflow
    from pneumonet.errors import PneumonetError

    quiet_tensorflow()  # before anything imports Keras (the parser lists the registry's backbones and heads)
    args = build_parser().parse_args(argv)
    needs_data = args.command in ("data", "train", "robustness") and not getattr(args, "synthetic", None)
    if getattr(args, "data", None) is None and needs_data:
        from pneumonet.data.download import resolve_data_dir

        try:
            args.data = str(resolve_data_dir(None))
        except PneumonetError as exc:
            print(f"pneumonet: {exc}", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except (PneumonetError, FileExistsError, FileNotFoundError, PermissionError, ValueError) as exc:
        # one line naming what was wrong; PNEUMONET_VERBOSE=1 shows the traceback as well
        if os.environ.get("PNEUMONET_VERBOSE"):
            raise
        text = str(exc)
        message = text.splitlines()[0] if text else type(exc).__name__
        print(f"pneumonet {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
