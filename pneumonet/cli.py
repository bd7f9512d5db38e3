"""The ``pneumonet`` command (``DESCRIPTION``); ``pneumonet COMMAND --help`` for each."""

import argparse
import contextlib
import json
import math
import os
import re
import sys
from pathlib import Path

DESCRIPTION = ("pneumonia detection on chest X-rays: data, train, evaluate, robustness, predict, classical, search, "
               "stack, demo, export, run (the main job). `pneumonet COMMAND --help` for each.")


def _cmd_data(args):
    from pneumonet.data import assign_subsets, build_catalog, inspect_images, summarize, write_synthetic_dataset

    if args.synthetic:
        target = Path(args.synthetic)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):  # never mixed into other files
            raise FileExistsError(f"--synthetic {target} exists and is not an empty folder; name a new folder")
        path = write_synthetic_dataset(target, image_size=args.synthetic_size, seed=args.seed)
        print(f"wrote a synthetic data set to {path}")
        return 0
    if args.output and Path(args.output).exists() and not args.overwrite:  # before the image scan
        raise FileExistsError(f"--output {args.output} exists; pass --overwrite to replace it")
    catalog = assign_subsets(inspect_images(build_catalog(args.data)), val_fraction=args.val_fraction,
                             seed=args.seed)
    summary = summarize(catalog)
    for key in ("counts", "subtypes", "patients", "modes"):
        print(f"\n== {key} ==\n{summary[key]}")
    print(f"\nunreadable: {summary['unreadable']}, stray files skipped: {summary['skipped_files']}, "
          f"duplicate groups: {summary['duplicate_groups']}")
    for path, reason in catalog.attrs.get("unreadable", {}).items():  # left out by the scan: names not UTF-8
        print(f"  unreadable {path}: {reason}")
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


def _config_defaults(args):
    """The ``--config`` file's values (``best_config.json`` from ``pneumonet search``) as defaults for ``train``;
    a file searched for another backbone than ``--backbone`` is refused."""
    from pneumonet.search import train_defaults

    defaults = train_defaults(args.config)
    if defaults["backbone"] != args.backbone:
        raise ValueError(f"{args.config} was searched for {defaults['backbone']}. Received: --backbone "
                         f"{args.backbone}")
    return defaults


def _train_head(args):
    """``--head``, with the width and dropout a ``--config`` file gives (None: the head's own)."""
    units, dropout = getattr(args, "head_units", None), getattr(args, "head_dropout", None)
    if units is None and dropout is None:
        return args.head
    from pneumonet.models.heads import get_head

    return get_head(args.head, units=units, dropout=dropout)


def _cmd_train(args):
    from pneumonet.experiment import Experiment, prepare_catalog, run_experiment
    from pneumonet.training import TrainConfig

    config = TrainConfig(epochs_head=args.epochs, epochs_finetune=args.finetune_epochs, lr_head=args.lr,
                         lr_finetune=args.lr_finetune, unfreeze_last=args.unfreeze_last, batch_size=args.batch_size,
                         seed=args.seed, label_smoothing=args.label_smoothing, weight_decay=args.weight_decay)
    experiment = Experiment(args.name or args.backbone, args.backbone, head=_train_head(args), weights=args.weights,
                            image_size=args.image_size, pipeline=args.pipeline, augment=args.augment,
                            augment_on=args.augment_on, views=args.views, target=args.target, border=args.border,
                            train=config)
    from pneumonet.scaling import scaled

    # set before the model is built; entered first so that a bad --devices or --precision costs no image scan
    with scaled(args.profile, args.precision, args.devices) as setup:
        catalog = prepare_catalog(args.data, val_fraction=args.val_fraction, seed=args.seed)
        for path, reason in catalog.attrs.get("unreadable", {}).items():
            print(f"pneumonet train: skipped {path}: {reason}", file=sys.stderr)
        if args.verbose:
            print(f"profile {setup.profile}, {setup.precision}, on {', '.join(setup.devices)} ({setup.backend})")
        record = run_experiment(experiment, catalog, args.results, weights_dir=args.weights_dir,
                                cache_dir=args.cache_dir, n_boot=args.n_boot, overwrite=args.overwrite,
                                resume=args.resume, verbose=args.verbose, scaling=setup)
    if "subtypes" in record:
        three, kermany = record["subtypes"]["test"], record["subtypes"]["bacterial_vs_viral"]["test"]
        print(f"{experiment.name}, three classes on test: accuracy {three['accuracy']['value']:.3f}, macro AUC "
              f"{three['roc_auc_macro']['value']:.3f}; bacterial vs viral AUC {kermany['roc_auc']['value']:.3f}")
    t = record["test"]
    print(f"{experiment.name}: threshold {record['threshold']:.3f} (chosen on val); test AUC "
          f"{t['roc_auc']['value']:.3f} [{t['roc_auc']['low']:.3f}, {t['roc_auc']['high']:.3f}], sensitivity "
          f"{t['sensitivity']['value']:.3f}, specificity {t['specificity']['value']:.3f}; results in "
          f"{Path(args.results) / experiment.name}")
    return 0


def _cmd_evaluate(args):
    from pneumonet.evaluation import write_summary
    from pneumonet.runs import load_runs

    skipped = {}
    runs = load_runs(args.results, skipped=skipped)
    for path, reason in skipped.items():
        print(f"pneumonet evaluate: skipped {path}: {reason}", file=sys.stderr)
    table = write_summary(args.results, runs)
    print(table[["model", "threshold", "Accuracy", "Sensitivity", "Specificity", "AUC", "False negatives"]]
          .to_string(index=False))
    from pneumonet.model_card import write_model_card

    for name in runs:
        write_model_card(Path(args.results) / name)
    print(f"\nwritten: {Path(args.results) / 'summary.csv'}, summary.md and <run>/MODEL_CARD.md for each run")
    return 0


def _cmd_predict(args):
    import numpy as np

    from pneumonet.data import load_image
    from pneumonet.errors import ImageLoadError
    from pneumonet.evaluation import positive_probability
    from pneumonet.models import check_against_record, input_size, load_model

    if args.gradcam and Path(args.gradcam).exists() and not args.overwrite:  # before any work is printed
        raise FileExistsError(f"--gradcam {args.gradcam} exists; pass --overwrite to replace it")
    model, meta = load_model(args.model)
    mismatch = check_against_record(args.model)
    if mismatch:
        print(f"pneumonet predict: WARNING {mismatch}", file=sys.stderr)
    threshold = args.threshold if args.threshold is not None else meta.get("threshold", 0.5)
    size = input_size(model, meta)
    rows, images, failures = [], [], 0
    for path in args.images:
        try:
            images.append(load_image(path, size))
            rows.append(path)
        except ImageLoadError as exc:
            failures += 1
            print(f"{path}: ERROR {exc.reason}", file=sys.stderr)
    if images:
        from pneumonet.explain import decided_classes

        batch = np.stack(images)[..., None].astype("float32")
        outputs = model.predict(batch, verbose=0)
        probs, decided = positive_probability(outputs), decided_classes(outputs, threshold)
        names = meta.get("class_names") or ["NORMAL", "PNEUMONIA"]
        for path, p, d in zip(rows, probs, decided):
            print(json.dumps({"image": path, "p_pneumonia": round(float(p), 4), "threshold": round(threshold, 4),
                              "decision": "PNEUMONIA" if p >= threshold else "NORMAL", "class": names[d]}))
        if args.gradcam:
            from pneumonet.explain import gradcam
            from pneumonet.io import save_figure
            from pneumonet.plots import plot_gradcam_grid

            grid = plot_gradcam_grid(batch, gradcam(model, batch, class_index=decided),
                                     [f"{Path(r).name} p={p:.2f}, explains {names[d]}"
                                      for r, p, d in zip(rows, probs, decided)], ncols=min(4, len(rows)))
            save_figure(grid.figure_, args.gradcam)
            print(f"Grad-CAM written to {args.gradcam}")
    return 1 if failures else 0


def _cmd_robustness(args):
    from pneumonet.experiment import prepare_catalog
    from pneumonet.io import save_figure
    from pneumonet.plots import plot_robustness
    from pneumonet.robustness import run_shift_benchmark

    written = Path(args.results) / "robustness.csv"
    if written.exists() and not args.overwrite:  # minutes of work: replaced only on purpose
        raise FileExistsError(f"{written} exists; pass --overwrite to replace the shift benchmark")
    catalog = prepare_catalog(args.data, val_fraction=args.val_fraction, seed=args.seed, progress=False)
    frame, summary = run_shift_benchmark(args.results, catalog, runs=args.runs, n_per_split=args.n_images,
                                         severities=tuple(args.severities), cache_dir=args.cache_dir)
    for split in summary["split"].unique():
        save_figure(plot_robustness(frame, split=split).figure_, Path(args.results) / f"robustness_{split}.png")
    print(summary[["run", "split", "clean_auc", "robust_auc", "worst_auc", "worst_shift", "clean_specificity",
                   "shifted_specificity"]].round(3).to_string(index=False))
    print(f"\nwritten: {Path(args.results) / 'robustness.csv'}, robustness_summary.csv, robustness_<split>.png")
    return 0


def _cmd_classical(args):
    from pneumonet.classical import compare_runs, run_classical
    from pneumonet.experiment import prepare_catalog
    from pneumonet.io import write_csv

    from pneumonet.runs import METRICS, PREDICTIONS

    missing = [str(o) for o in args.compare or () if not (Path(o) / PREDICTIONS).is_file()
               or not (Path(o) / METRICS).is_file()]
    if missing:  # checked before the image scan and the features
        raise ValueError(f"--compare {' '.join(missing)}: not a finished run folder (metrics.json and "
                         "predictions.csv)")
    catalog = prepare_catalog(args.data, val_fraction=args.val_fraction, seed=args.seed,
                              progress=False)
    failed = 0
    for classifier in args.classifier:
        name = f"{args.name or args.backbone}_{classifier}"
        try:
            record = run_classical(catalog, args.results, backbone=args.backbone, classifier=classifier,
                                   weights=args.weights, weights_dir=args.weights_dir, image_size=args.image_size,
                                   name=name, cache_dir=args.cache_dir, n_splits=args.n_splits, n_jobs=args.n_jobs,
                                   n_boot=args.n_boot, seed=args.seed, batch_size=args.batch_size,
                                   overwrite=args.overwrite)
        except FileExistsError as exc:  # this classifier's run is already there: the others go on
            print(f"pneumonet classical: {_cli_spelling(str(exc), args.command_parser)}", file=sys.stderr)
            failed += 1
            continue
        t, timing = record["test"]["roc_auc"], record["timing"]
        print(f"{name}: best {record['best_params']} (patient-fold AUC {record['best_cv_auc']:.4f}); val AUC "
              f"{record['val']['roc_auc']:.4f}; test AUC {t['value']:.4f} [{t['low']:.4f}, {t['high']:.4f}]; "
              f"features {timing['decode_seconds'] + timing['backbone_seconds'] + timing['read_seconds']:.1f} s "
              f"(backbone {timing['backbone_seconds']:.1f} s, cached: {', '.join(timing['cached']) or 'none'}), "
              f"search {timing['search_seconds']:.1f} s, final fit {timing['final_fit_seconds']:.1f} s")
        if args.compare:
            import pandas as pd

            table = pd.concat([compare_runs(Path(args.results) / name, other) for other in args.compare],
                              ignore_index=True)
            write_csv(Path(args.results) / name / "paired_tests.csv", table)
            print(table.round(4).to_string(index=False))
    return 2 if failed else 0


def _cmd_search(args):
    from pneumonet.experiment import prepare_catalog
    from pneumonet.search import run_search

    catalog = prepare_catalog(args.data, val_fraction=args.val_fraction, seed=args.seed,
                              progress=False)
    best = run_search(catalog, Path(args.results) / (args.name or args.backbone), args.backbone, weights=args.weights,
                      image_size=args.image_size, budget=args.budget, trials=args.trials, epochs=args.epochs,
                      weights_dir=args.weights_dir, cache_dir=args.cache_dir, seed=args.seed,
                      overwrite=args.overwrite, verbose=args.verbose)
    print(f"best of {best['search']['trials']} trials: val AUC {best['search']['val_auc']:.4f} with "
          f"{best['hyperparameters']}; written to {best['search']['path']} (pneumonet train --config it)")
    return 0


def _cmd_stack(args):
    from pneumonet.evaluation.ensemble import write_stack
    from pneumonet.runs import METRICS

    if args.name in args.members:  # the stack would replace one of its own inputs
        raise ValueError(f"--name {args.name} is one of --members; choose another name for the stack")
    missing = [m for m in args.members if not (Path(args.results) / m / METRICS).is_file()]
    if missing:
        raise ValueError(f"--members {' '.join(missing)}: no finished run of that name in --results {args.results}")

    record = write_stack(args.results, args.members, name=args.name, n_splits=args.n_splits, n_boot=args.n_boot,
                         overwrite=args.overwrite)
    t = record["test"]["roc_auc"]
    print(f"{args.name}: weights {record['stacking']['coefficients']}; val AUC (out of fold) "
          f"{record['val']['roc_auc']:.4f}; test AUC {t['value']:.4f} [{t['low']:.4f}, {t['high']:.4f}]")
    return 0


def _cmd_demo(args):
    import socket

    from pneumonet.data.download import resolve_data_dir
    from pneumonet.demo import launch
    from pneumonet.errors import PneumonetError
    from pneumonet.models.saving import read_metadata

    for path in args.model:
        read_metadata(path)  # a missing file or one that is not a Keras archive: one line naming it, before anything
    try:
        data = resolve_data_dir(args.data)
    except PneumonetError:
        if args.data:
            raise
        data = None  # no data: no example images, the demo still runs
    with socket.socket() as probe:  # a port in use: say so, instead of Gradio's traceback
        try:
            probe.bind((args.host, args.port))
        except OSError as exc:
            raise ValueError(f"--port {args.port} on --host {args.host} cannot be used "
                             f"({exc.strerror or exc})") from None
    launch(args.model, data_dir=data, n_examples=args.examples, host=args.host, port=args.port)
    return 0


def _cmd_export(args):
    from pneumonet.export import export_model, metadata_path

    output, info = export_model(args.model, args.output, format=args.format, overwrite=args.overwrite)
    print(f"exported {args.model} as {args.format} to {output} (input {info['input_shape']} float32 0-255, "
          f"threshold {info['threshold']:.4f}); metadata in {metadata_path(output, args.format)}")
    return 0


def _cmd_run(args):
    from pneumonet.runner import main_job

    params = {k: v for k, v in {"weights_dir": args.weights_dir, "cache_dir": args.cache_dir,
                                "pipeline": args.pipeline, "smoke": args.smoke or None, "n_boot": args.n_boot,
                                "backbones": args.backbones, "profile": args.profile}.items() if v is not None}
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
        if not math.isfinite(value):  # float("nan") and float("inf") parse, and mean nothing here
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
        if low is not None and (value <= low if low_open else value < low) or high is not None and value > high:
            bounds = (f"{'above' if low_open else 'at least'} {low}" if high is None
                      else f"in {'(' if low_open else '['}{low}, {high}]")
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value
    return parse


def _n_jobs(text):
    """``--n-jobs``: a count of at least 1, or -1 for all cores (joblib's spelling)."""
    value = _number(int)(text)
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"must be a positive number or -1 for all cores, got {text}")
    return value


def _folder(text):
    """A folder a command writes into: refused before any work when it, or a folder above it, is a file (instead
    of "[Errno 17] File exists" once the work is done)."""
    path = Path(text).expanduser()
    try:
        above = next((p for p in (path, *path.parents) if p.exists()), None)
    except OSError:  # unreadable: the command itself names the problem
        return text
    if above is not None and not above.is_dir():
        raise argparse.ArgumentTypeError(f"is a file, not a folder: {above}")
    return text


def _devices(text):
    """``--devices``: "all" or a count of at least 1."""
    if text == "all":
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected 'all' or a count of at least 1, got {text!r}")


def _weights(text):
    """``--weights``: "none" (random initial weights, also spelled "None") becomes None; "imagenet" or a file
    path stays as given."""
    return None if text in ("none", "None") else text


def _backbone_options(p):
    """--weights, --weights-dir, --image-size: how a backbone is built."""
    p.add_argument("--weights", type=_weights, default="imagenet", help="imagenet, none, or a weights file")
    p.add_argument("--weights-dir", help="folder with <backbone>_notop.weights.h5 ($PNEUMONET_WEIGHTS)")
    p.add_argument("--image-size", type=_number(int, 16, 4096), default=224,
                   help="input side in px (default 224; at most 4096, beyond any X-ray's detail)")


def _n_boot_option(p, default=1000):
    """--n-boot: bootstrap resamples for the intervals."""
    p.add_argument("--n-boot", type=_number(int, 2, 100_000), default=default,
                   help="bootstrap resamples for the intervals (default 1000; at most 100000, far more than stable "
                        "95%% intervals need)")


def _scaling_options(p, profile_only=False):
    """--profile (and --precision, --devices): see ``pneumonet.scaling``."""
    from pneumonet.scaling import PRECISIONS

    p.add_argument("--profile", choices=("cpu", "gpu"),
                   help="hardware profile (default: gpu when Keras sees a GPU or TPU, else cpu)")
    if profile_only:
        return
    p.add_argument("--precision", choices=PRECISIONS,
                   help="default: mixed_bfloat16 on the gpu profile, float32 on the cpu profile")
    p.add_argument("--devices", type=_devices,
                   help="'all' or a count: more than one trains data-parallel (default: all on the gpu profile, "
                        "one on the cpu profile); --batch-size is the global batch")


class _Parser(argparse.ArgumentParser):
    """argparse with its errors in one line (no usage block above them); subcommands inherit it."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _cli_spelling(message, parser):
    """A library message in the command line's spelling: ``Received: batch_size=3`` -> ``Received: --batch-size
    3``, for the keywords an option of this command sets (``n_splits=50`` -> ``--folds 50``: its ``dest``);
    ``(overwrite=True)`` after ``--overwrite`` dropped."""
    flags = {action.dest: action.option_strings[-1] for action in parser._actions if action.option_strings}
    message = re.sub(r" \((\w+)=True\)", lambda m: "" if f"--{m[1]}" in message else m[0], message)

    def option(match):
        flag = flags.get(match[1])
        return f"{flag} {match[2]}" if flag else match[0]

    return re.sub(r"\b([a-z][a-z_]*)=('[^']*'|\[[^\]]*\]|[^\s,;)]+)", option, message)


def build_parser(train_defaults=None):
    """The command line; ``train_defaults`` (from a ``--config`` file) replace the ``train`` defaults, so an
    option given on the command line still wins."""
    from pneumonet.models.heads import HEADS
    from pneumonet.models.registry import BACKBONES

    parser = _Parser(prog="pneumonet", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, split=True, data_help=""):
        p.add_argument("--data", default=None, help="data folder (Kaggle layout); default $PNEUMONET_DATA or "
                                                    "data/chest_xray" + data_help)
        p.add_argument("--seed", type=_number(int, 0, 2**32 - 1), default=42,
                       help="seed of the split, training and sampling (default 42)")
        if split:  # the patient-level validation split; a command reading trained runs needs the runs' value
            p.add_argument("--val-fraction", type=_number(float, 0, 0.5, low_open=True), default=0.2,
                           help="share of the training patients held out for validation (default 0.2)")

    p = sub.add_parser("data", help="catalog summary and the patient-level validation split")
    common(p)
    p.add_argument("--output", help="write the catalog (with subsets) to this CSV")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    p.add_argument("--synthetic", metavar="DIR", help="write a synthetic data set to DIR instead")
    p.add_argument("--synthetic-size", type=_number(int, 16, 4096), default=64,
                   help="side in px of the synthetic images (default 64; at most 4096: the 160 images then take "
                        "about 1 GB)")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("train", help="train and evaluate one model into RESULTS/NAME/ (default runs/<backbone>/)")
    common(p)
    p.add_argument("--backbone", required=True, choices=sorted(BACKBONES), metavar="BACKBONE",
                   help=f"one of: {', '.join(sorted(BACKBONES))}")
    p.add_argument("--head", default="gap_dense_dropout", choices=sorted(HEADS), metavar="HEAD",
                   help=f"one of: {', '.join(sorted(HEADS))} (default gap_dense_dropout)")
    p.add_argument("--views", type=_number(int, 0, 64), default=0,
                   help="augmented views of each training image, drawn once (cached training; default 0; at most "
                        "64: each view is another copy of the training images in memory)")
    p.add_argument("--target", choices=("binary", "subtype"), default="binary",
                   help="binary: NORMAL / PNEUMONIA (default); subtype: normal / bacterial / viral (three classes)")
    p.add_argument("--border", type=_number(float, 0, 0.2), default=0.0,
                   help="fraction of each side blacked out inside the model, where text markers sit (default 0: "
                        "off; 0.08 masks a band of 8%% on every edge)")
    p.add_argument("--label-smoothing", type=_number(float, 0), default=0.0)
    p.add_argument("--weight-decay", type=_number(float, 0), default=0.0)
    _backbone_options(p)
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
    _n_boot_option(p)
    p.add_argument("--name", help="run name (default: the backbone)")
    p.add_argument("--results", type=_folder, default="runs", help="the run goes to RESULTS/NAME (default runs/)")
    p.add_argument("--cache-dir", type=_folder)
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run of the same name")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last epoch")
    p.add_argument("--config", metavar="BEST_CONFIG.json",
                   help="settings found by `pneumonet search` (head width, dropout, learning rates, unfreezing, "
                        "augmentation, label smoothing, weight decay, image size, weights); an option also given "
                        "on the command line wins; epochs come from the command line")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    _scaling_options(p)
    p.set_defaults(func=_cmd_train, **(train_defaults or {}))

    p = sub.add_parser("evaluate", help="summary table across the runs in a results folder")
    p.add_argument("--results", type=_folder, default="runs",
                   help="folder whose */metrics.json are summarised (default runs/)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("robustness", help="shift benchmark: every trained run under synthetic acquisition shifts")
    common(p)
    p.add_argument("--results", type=_folder, default="runs",
                   help="folder of trained runs (*/model.keras + metrics.json)")
    p.add_argument("--runs", nargs="+", help="run names (default: every trained run in --results)")
    p.add_argument("--n-images", type=_number(int, 2), default=64, help="images per split, half of each class")
    p.add_argument("--severities", type=int, nargs="+", default=[1, 2, 3], choices=(1, 2, 3))
    p.add_argument("--cache-dir", type=_folder)
    p.add_argument("--overwrite", action="store_true", help="replace an earlier benchmark in --results")
    p.set_defaults(func=_cmd_robustness)

    p = sub.add_parser("predict", help="probability and decision for images with a saved .keras model")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", required=True, help="a model.keras written by pneumonet")
    p.add_argument("--threshold", type=_number(float, 0, 1), help="override the threshold stored with the model")
    p.add_argument("--gradcam", metavar="OUT.png", help="also write Grad-CAM overlays")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --gradcam file")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("classical", help="frozen-backbone features + SVM / logistic regression, tuned by patient "
                                         "folds, into RESULTS/<name>_<classifier>/")
    common(p)
    p.add_argument("--backbone", default="densenet121", choices=sorted(BACKBONES), metavar="BACKBONE")
    p.add_argument("--classifier", nargs="+", choices=("svm", "logreg"), default=["svm", "logreg"])
    _backbone_options(p)
    p.add_argument("--folds", dest="n_splits", type=_number(int, 2), default=5,
                   help="GroupKFold folds by patient (default 5; at most the training split's patients)")
    p.add_argument("--n-jobs", type=_n_jobs, default=1,
                   help="parallel fits of the grid search (default 1; -1: all cores)")
    p.add_argument("--batch-size", type=_number(int, 1), default=32)
    _n_boot_option(p)
    p.add_argument("--name", help="run name prefix (default: the backbone)")
    p.add_argument("--results", type=_folder, default="runs/classical", help="default runs/classical/")
    p.add_argument("--compare", nargs="+", metavar="RUN_DIR",
                   help="fine-tuned run folders to compare with on the same test images (into each run's "
                        "paired_tests.csv)")
    p.add_argument("--cache-dir", type=_folder)
    p.add_argument("--overwrite", action="store_true", help="replace earlier runs of the same name")
    p.set_defaults(func=_cmd_classical)

    p = sub.add_parser("search", help="KerasTuner search of a Keras model's hyper-parameters (objective: val AUC)")
    common(p)
    p.add_argument("--backbone", required=True, choices=sorted(BACKBONES), metavar="BACKBONE")
    _backbone_options(p)
    p.add_argument("--budget", choices=("cpu", "gpu"), default="cpu",
                   help="cpu: 4 trials of 2 head + 1 fine-tuning epochs; gpu: 20 trials of 10 + 4")
    p.add_argument("--trials", type=_number(int, 1), help="override the budget's number of trials")
    p.add_argument("--epochs", type=_number(int, 1), help="override the budget's head epochs per trial")
    p.add_argument("--name", help="search name (default: the backbone)")
    p.add_argument("--results", type=_folder, default="runs/search",
                   help="the search goes to RESULTS/NAME (default runs/search/)")
    p.add_argument("--cache-dir", type=_folder)
    p.add_argument("--overwrite", action="store_true", help="start the search again from scratch")
    p.add_argument("--verbose", type=int, default=0, choices=(0, 1, 2))
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("stack", help="stacking: a logistic regression on members' validation probabilities")
    p.add_argument("--results", type=_folder, default="runs",
                   help="folder holding the member runs; the stack is written there")
    p.add_argument("--members", nargs="+", required=True, help="run names (at least two)")
    p.add_argument("--name", default="stack")
    p.add_argument("--folds", dest="n_splits", type=_number(int, 2), default=5,
                   help="patient folds for out-of-fold val scores (default 5; at most the validation patients)")
    _n_boot_option(p)
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run of the same name")
    p.set_defaults(func=_cmd_stack)

    p = sub.add_parser("demo", help="browser demo (Gradio): upload X-rays (JPEG, PNG, DICOM), see P(pneumonia), "
                                    "the decision, Grad-CAM and the model card")
    p.add_argument("--model", nargs="+", required=True, help="model.keras file(s); the other runs beside them are "
                                                              "offered in the run menu")
    p.add_argument("--data", default=None, help="data folder whose test split gives example images (default "
                                                "$PNEUMONET_DATA or data/chest_xray; none when absent)")
    p.add_argument("--examples", type=_number(int, 0), default=4, help="example images (default 4)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_number(int, 1, 65535), default=7860)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("export", help="export a model.keras as a TensorFlow SavedModel or ONNX, threshold included")
    p.add_argument("--model", required=True, help="a model.keras written by pneumonet")
    p.add_argument("--format", choices=("tf_saved_model", "onnx"), default="tf_saved_model")
    p.add_argument("--output", help="SavedModel folder or .onnx file (default: export/ beside the model)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("run", help="the main job: the five notebooks in order (demo when no data)")
    common(p, split=False, data_help="; with none found, the demo on generated images (or --download)")
    p.add_argument("--results", type=_folder,
                   help="results folder (default: a new runs/main-<time>); an existing one is replaced only with "
                        "--overwrite, and only once every notebook has run")
    p.add_argument("--weights-dir", help="folder with <backbone>_notop.weights.h5 ($PNEUMONET_WEIGHTS)")
    p.add_argument("--cache-dir", type=_folder,
                   help="decoded-image cache (default $PNEUMONET_CACHE or ~/.cache/pneumonet)")
    p.add_argument("--pipeline", choices=("fast", "classic"), help="input pipeline of the notebooks (default fast)")
    p.add_argument("--backbones", nargs="+", choices=sorted(BACKBONES), metavar="BACKBONE",
                   help="transfer backbones to train (default: the profile's line-up)")
    _n_boot_option(p, default=None)  # None: the notebooks' own 1000
    p.add_argument("--smoke", action="store_true", help="tiny images, one epoch, no pretrained weights: a check "
                                                        "that everything runs, into runs/smoke-<time>/")
    p.add_argument("--overwrite", action="store_true", help="replace the results folder when the job succeeds")
    p.add_argument("--download", action="store_true", help="download the data with kagglehub when missing")
    _scaling_options(p, profile_only=True)
    p.set_defaults(func=_cmd_run)
    for command in sub.choices.values():  # errors are spelled in the options of the command that failed
        command.set_defaults(command_parser=command)
    return parser


@contextlib.contextmanager
def _sigterm_as_ctrl_c():
    """While the block runs, SIGTERM (``kill``, a job scheduler, a container stopping) raises KeyboardInterrupt as
    Ctrl-C does: the same clean-up (staging folder kept as ``.failed-``, lock and temporary files removed) and the
    same one line. The earlier handler is back afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # handlers belong to the main thread only
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def main(argv=None):
    """The ``pneumonet`` command: returns the exit status (2, with one line naming the problem, on bad input;
    130 on Ctrl-C or SIGTERM)."""
    from pneumonet import quiet_tensorflow

    quiet_tensorflow()  # before anything imports Keras (the parser lists the registry's backbones and heads)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    with _sigterm_as_ctrl_c():
        return _run(args, argv)


def _run(args, argv):
    """``main`` after parsing: the command, its errors in one line."""
    from pneumonet.errors import PneumonetError

    try:
        if args.command == "train" and args.config:  # its values become defaults: parse again with them
            args = build_parser(train_defaults=_config_defaults(args)).parse_args(argv)
        # one owner decides the data folder; `run` falls back to the demo itself, `data --synthetic` writes one
        if hasattr(args, "data") and args.command not in ("run", "demo") and not getattr(args, "synthetic", None):
            from pneumonet.data.download import resolve_data_dir

            args.data = str(resolve_data_dir(args.data))
        return args.func(args)
    except (PneumonetError, OSError, ValueError) as exc:  # OSError: missing, unwritable, taken paths
        # one line naming what was wrong; PNEUMONET_VERBOSE=1 shows the traceback as well
        if os.environ.get("PNEUMONET_VERBOSE"):
            raise
        text = str(exc)
        message = text.splitlines()[0] if text else type(exc).__name__
        print(f"pneumonet {args.command}: {_cli_spelling(message, args.command_parser)}", file=sys.stderr)
        return 130 if getattr(exc, "interrupted", False) else 2
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: one line, and the shell's usual status, not a traceback
        print(f"pneumonet {args.command}: interrupted" + (f" ({exc})" if str(exc) else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
