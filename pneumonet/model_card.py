"""A model card per run (Mitchell et al., 2019): ``results/<run>/MODEL_CARD.md``.

Everything in it is read from the run's ``metrics.json`` (written by ``runs.write_run``) and, when the shift
benchmark has run, from ``robustness_summary.csv`` in the results folder: the card states what was measured, never
more. ``pneumonet evaluate`` writes one for every run; the demo shows it.
"""

from pathlib import Path

import pandas as pd

from pneumonet.io import read_json, write_text
from pneumonet.runs import METRICS, MODEL_CARD

ROBUSTNESS_SUMMARY = "robustness_summary.csv"

# (key in a bootstrap_ci dict, label, decimals)
METRIC_ROWS = (("roc_auc", "AUC", 3), ("sensitivity", "Sensitivity", 3), ("specificity", "Specificity", 3),
               ("accuracy", "Accuracy", 3), ("precision", "Precision", 3), ("f1", "F1", 3),
               ("fn", "False negatives", 0), ("fp", "False positives", 0))

INTENDED_USE = ("Teaching and research; not a medical device. It shows how transfer learning, patient-level "
                "validation, threshold choice and Grad-CAM behave on pediatric chest X-rays. It must not be used "
                "to diagnose, triage or treat anyone.")

LIMITATIONS = (
    "**The dev test split is optimistic.** It is carved out of the same source as the training images (same "
    "hospital, same acquisition, same preprocessing), patient-disjoint but not site-disjoint. Expect lower "
    "accuracy, and above all lower specificity, on images from elsewhere.",
    "**Site and population shift.** The Kaggle set (Kermany et al., 2018) holds pediatric anterior-posterior "
    "films of children aged 1 to 5 from one centre in Guangzhou. Adults, other scanners, portable films, "
    "other exposure and post-processing are not represented.",
    "**Shortcut risk.** A classifier can score well from text markers, borders, image size or exposure instead of "
    "the lungs. Look at the Grad-CAM overlays; heat outside the lung fields is a warning, not an explanation.",
    "**Threshold and calibration.** The threshold and the temperature were chosen on one validation split; a "
    "new site needs its own.",
    "**Labels.** One label per image from the source data set (NORMAL or PNEUMONIA), not a reference standard "
    "such as a radiologist panel; bacterial and viral pneumonia are merged.",
)


def _interval(metric, digits):
    return f"{metric['value']:.{digits}f} [{metric['low']:.{digits}f}, {metric['high']:.{digits}f}]"


def metrics_table(record):
    """Markdown table of the test metrics with intervals at each operating point the record holds."""
    points = [(key, label) for key, label in (("test", "chosen threshold"), ("test_at_0.5", "0.5"),
                                             ("test_at_target_sensitivity", "sensitivity target"))
              if key in record]
    header = ["metric"] + [f"at {label} ({record[key]['_meta']['threshold']:.3f})" for key, label in points]
    rows = [[label] + [_interval(record[key][metric], digits) for key, _ in points]
            for metric, label, digits in METRIC_ROWS if all(metric in record[key] for key, _ in points)]
    return pd.DataFrame(rows, columns=header).to_markdown(index=False)


def robustness_table(rows):
    """Markdown table of the shift benchmark for one run (rows of ``robustness_summary.csv``)."""
    def three(values):
        return [f"{value:.3f}" for value in values]

    table = pd.DataFrame({
        "split": rows["split"], "images": rows["n_images"],
        "AUC clean": three(rows["clean_auc"]), "AUC mean over shifts": three(rows["robust_auc"]),
        "AUC worst": three(rows["worst_auc"]), "worst shift": rows["worst_shift"],
        "specificity clean -> shifted": [f"{a:.3f} -> {b:.3f}" for a, b in
                                         zip(rows["clean_specificity"], rows["shifted_specificity"])],
        "sensitivity clean -> shifted": [f"{a:.3f} -> {b:.3f}" for a, b in
                                         zip(rows["clean_sensitivity"], rows["shifted_sensitivity"])]})
    # tabulate would read "0.650" back as a number and print 0.65
    return table.to_markdown(index=False, disable_numparse=True)


def model_lines(record):
    """What the model is: a trained network, or a run derived from others (an ensemble, test-time augmentation),
    whose config is then listed as it was recorded."""
    config = record.get("config", {})
    env = record.get("environment", {})
    if "backbone" not in config:
        return ["- Derived from other runs: " + "; ".join(f"{key} {value}" for key, value in config.items()) + "."]
    model, train = config.get("model", {}), config.get("train", {})
    size = model.get("image_size") or [config.get("image_size")] * 2
    augmentation = ("every epoch" if config.get("augment") else f"{config['views']} view(s) of each training "
                    "image, drawn once" if config.get("views") else "off")
    border = (f"; a border band of {config['border']:.0%} of each side is blacked out inside the model"
              if config.get("border") else "")
    border += "; every image is cropped to its content inside the model" if config.get("content_crop") else ""
    lines = [f"- Backbone `{config['backbone']}`, head `{config.get('head', '?')}`, input {size[0]} x {size[1]} px "
             "grayscale (pixel values 0-255; scaling and the backbone's preprocessing are inside the model"
             f"{border}).",
             f"- Initial weights: {config.get('weights') or 'none (random)'}; training: "
             f"{train.get('epochs_head', '?')} head epochs + {train.get('epochs_finetune', '?')} fine-tuning "
             f"epochs, pipeline `{config.get('pipeline', '?')}`, augmentation: {augmentation}; seed "
             f"{record.get('seed')}.",
             f"- File `{record.get('model_file', 'model.keras')}`"
             + (f", sha256 `{record['model_sha256'][:16]}...`" if record.get("model_sha256") else "") + "."]
    if env:
        versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
        lines.append(f"- Trained on {env.get('machine', '?')} with the {env.get('backend', '?')} backend "
                     f"({versions}) in {record.get('train_seconds', '?')} s.")
    return lines


def model_card(record, robustness=None):
    """The text of a model card from a run's metrics record.

    Args:
        record: the dict of ``metrics.json`` (``evaluation.write_run``).
        robustness: None, or the rows of ``robustness_summary.csv`` for this run (a DataFrame).

    Returns:
        Markdown text.
    """
    missing = [key for key in ("run", "threshold", "test", "test_at_0.5") if key not in record]
    if missing:
        raise ValueError(f"a metrics record needs {', '.join(missing)} to make a model card. "
                         f"Received keys: {sorted(record)}")
    meta = record["test"]["_meta"]
    val = record.get("val", {})
    lines = [f"# Model card: {record['run']}", "", f"> **Intended use.** {INTENDED_USE}", "", "## Model", ""]
    lines += model_lines(record)
    lines += ["", "## Data and split", "",
              "- A chest X-ray folder in the Kaggle layout `{train,val,test}/{NORMAL,PNEUMONIA}` (data fingerprint "
              f"`{record.get('data_fingerprint', '?')}`, over file names and sizes).",
              "- **Patient-level validation**: the validation images are a split of `train` by patient (no patient "
              f"on both sides); {val.get('n', '?')} images. The official 16-image `val` folder is not used for "
              "any choice.",
              f"- **Dev test split** (`test`): {meta['n']} images from {meta['n_groups']} {meta['unit']}s, used "
              "once, for the numbers below; nothing was chosen on it.",
              f"- Unreadable images skipped: {record.get('unreadable_skipped', 0)}.",
              "", "## Threshold", "",
              f"- **{record['threshold']:.3f}**, chosen by `{record.get('threshold_method', '?')}` on the "
              f"{record.get('threshold_chosen_on', 'val')} predictions only, then applied unchanged to test."
              + (" It is stored in `model.keras` and used by `pneumonet predict`, the demo and the exports."
                 if "backbone" in record.get("config", {}) else "")]
    if "val" in record and "sensitivity" in val:
        lines.append(f"- On validation at this threshold: sensitivity {val['sensitivity']:.3f}, specificity "
                     f"{val['specificity']:.3f}.")
    if "threshold_at_target_sensitivity" in record:
        lines.append(f"- Alternative operating point: {record['threshold_at_target_sensitivity']:.3f}, the "
                     f"highest validation threshold reaching sensitivity >= {record.get('target_sensitivity')}.")
    lines += ["", "## Metrics on the dev test split", "",
              f"Values with 95% bootstrap intervals ({meta['n_boot']} resamples of {meta['unit']}s).", "",
              metrics_table(record)]
    calibration, after = record.get("calibration"), record.get("calibration_after_temperature")
    if calibration and after:
        lines += ["", f"Calibration on test: ECE {calibration['ece']:.3f}, Brier {calibration['brier']:.3f}; after "
                      f"temperature scaling (T = {record.get('temperature', float('nan')):.3f}, fitted on val): ECE "
                      f"{after['ece']:.3f}, Brier {after['brier']:.3f}."]
    lines += ["", "## Shift benchmark", ""]
    if robustness is not None and len(robustness):
        lines += ["Synthetic acquisition shifts (exposure, contrast, gamma, noise, blur, JPEG, resolution, crop, "
                  "pad, markers...) at the stored threshold (`pneumonet robustness`), on small balanced samples:",
                  "", robustness_table(robustness)]
    else:
        lines.append("Not run for this model (`pneumonet robustness --results <folder>` adds it).")
    lines += ["", "## Intended use", "", INTENDED_USE, "", "## Known limitations", ""]
    lines += [f"- {item}" for item in LIMITATIONS]
    return "\n".join(lines) + "\n"


def read_robustness(results_dir, run):
    """This run's rows of ``results_dir/robustness_summary.csv``, or None when the benchmark has not run."""
    path = Path(results_dir) / ROBUSTNESS_SUMMARY
    if not path.is_file():
        return None
    rows = pd.read_csv(path)
    return rows[rows["run"] == run].reset_index(drop=True) if "run" in rows else None


def run_card(run_dir):
    """The text of ``run_dir``'s model card, from its ``metrics.json`` (and the shift benchmark beside the run)."""
    run_dir = Path(run_dir)
    metrics = run_dir / METRICS
    if not metrics.is_file():
        raise FileNotFoundError(f"no metrics.json in {run_dir}: a model card needs a trained and evaluated run")
    record = read_json(metrics)
    return model_card(record, read_robustness(run_dir.parent, record.get("run", run_dir.name)))


def write_model_card(run_dir):
    """Write ``run_dir/MODEL_CARD.md`` (``run_card``).

    Returns:
        The path of the card.
    """
    path = Path(run_dir) / MODEL_CARD
    write_text(path, run_card(run_dir))
    return path
