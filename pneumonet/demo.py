"""The browser demo: ``pneumonet demo --model results/<run>/model.keras`` (Gradio; ``pip install -e ".[demo]"``).

Upload one or several chest X-rays (JPEG, PNG or DICOM) and see P(PNEUMONIA), the decision at the model's stored
threshold and at 0.5, and the Grad-CAM overlay with its colour bar; pick another run when several are trained;
read the run's model card. Files that cannot be used get the one-line error ``pneumonet predict`` prints.

The computing functions (``discover_runs``, ``analyse``, ``results_markdown``...) need no Gradio; only
``build_app`` and ``launch`` import it, so ``import pneumonet`` never does.
"""

import functools
import os
from pathlib import Path

import numpy as np

from pneumonet.errors import ImageLoadError, ModelFileError
from pneumonet.runs import METRICS, MODEL_CARD

CLASS_NAMES = ("NORMAL", "PNEUMONIA")
NOT_A_DEVICE = "Teaching and research; not a medical device."


def discover_runs(model_paths):
    """{run name: model path}: the models given first, then every other trained run beside them.

    A run is a folder holding ``model.keras`` (``results/<run>/model.keras``); its siblings in the same results
    folder are offered in the demo's run menu.
    """
    model_paths = [Path(p) for p in model_paths]
    if not model_paths:
        raise ValueError("at least one model is needed. Received: model_paths=[]")
    for path in model_paths:
        if not path.is_file():
            raise ModelFileError(f"model file not found: {path}")
    runs = {}
    siblings = [p for path in model_paths for p in sorted(path.resolve().parent.parent.glob("*/model.keras"))]
    for path in model_paths + siblings:
        name = path.resolve().parent.name
        if name in runs and runs[name].resolve() != path.resolve():
            name = f"{path.resolve().parent.parent.name}/{name}"  # two results folders with one run name
        runs.setdefault(name, path)
    return runs


@functools.lru_cache(maxsize=4)
def _load(path):
    from pneumonet.models import load_model

    return load_model(path)


def load_run(path):
    """(model, metadata) of a ``model.keras``, loaded once per process (switching runs back and forth is free)."""
    return _load(str(Path(path).resolve()))


def example_images(data_dir, n=4, seed=0):
    """Up to ``n`` images of the data set's dev test split, half NORMAL and half PNEUMONIA: [(path, label)].

    Returns [] when there is no data folder: the demo then simply shows no examples.
    """
    from pneumonet.data import build_catalog
    from pneumonet.errors import DataLayoutError

    if data_dir is None or n <= 0:
        return []
    try:
        test = build_catalog(data_dir, splits=("test",))
    except DataLayoutError:
        return []
    picks = [rows.sample(min(len(rows), (n + 1) // 2), random_state=seed) for _, rows in test.groupby("label")]
    if not picks:
        return []
    chosen = [row for frame in picks for row in frame.itertuples()][:n]
    return [(row.path, row.class_name) for row in chosen]


def analyse(model, metadata, paths, names=None):
    """Predict and explain ``paths`` with ``model``; unusable files become error lines, never exceptions.

    Args:
        model, metadata: from ``load_run`` (``metadata["threshold"]`` is the stored decision threshold).
        paths: image files (JPEG, PNG, DICOM...).
        names: what to call each file in the output (default: the file name).

    Returns:
        dict with ``rows`` (one per readable image: image, p_pneumonia, decision, decision_at_0.5),
        ``errors`` (``"name: ERROR reason"`` lines, as ``pneumonet predict`` prints them), ``threshold``,
        ``images`` (N, H, W, 1) float32 and ``cams`` (N, h, w) Grad-CAM of the decided class.
    """
    from pneumonet.data import load_image
    from pneumonet.evaluation import positive_probability
    from pneumonet.explain import decided_classes, gradcam
    from pneumonet.models import input_size

    names = list(names) if names is not None else [Path(p).name for p in paths]
    if len(names) != len(paths):
        raise ValueError(f"one name per path is needed. Received: {len(paths)} paths, {len(names)} names")
    threshold = float(metadata.get("threshold", 0.5))
    size = input_size(model, metadata)
    images, kept, errors = [], [], []
    for path, name in zip(paths, names):
        try:
            images.append(load_image(path, size))
            kept.append(name)
        except ImageLoadError as exc:
            # the server's temporary path of an upload means nothing to the person who sent the file
            errors.append(f"{name}: ERROR {exc.reason.replace(str(path), name)}")
    result = {"rows": [], "errors": errors, "threshold": threshold, "images": None, "cams": None}
    if not images:
        return result
    batch = np.stack(images)[..., None].astype("float32")
    outputs = model.predict(batch, verbose=0)
    probs, decided = positive_probability(outputs), decided_classes(outputs, threshold)
    classes = metadata.get("class_names") or list(CLASS_NAMES)
    # a three-class model also says which pneumonia (bacterial or viral) it decided
    kind = [f" ({classes[d]})" if len(classes) == 3 and d else "" for d in decided]
    result["rows"] = [{"image": name, "p_pneumonia": float(p), "decision": CLASS_NAMES[int(p >= threshold)] + k,
                       "decision_at_0.5": CLASS_NAMES[int(p >= 0.5)]} for name, p, k in zip(kept, probs, kind)]
    # explain what the model decided at its stored threshold, not at 0.5
    result["images"], result["cams"] = batch, gradcam(model, batch, class_index=decided)
    return result


def results_markdown(result):
    """The result table (and the error lines) as Markdown."""
    lines = []
    if result["rows"]:
        t = result["threshold"]
        lines += [f"| image | P(pneumonia) | decision at the stored threshold {t:.3f} | decision at 0.5 |",
                  "|---|---|---|---|"]
        lines += [f"| {r['image']} | {r['p_pneumonia']:.4f} | **{r['decision']}** | {r['decision_at_0.5']} |"
                  for r in result["rows"]]
    if result["errors"]:
        lines += ["", "**Files that could not be used:**", ""] + [f"- `{line}`" for line in result["errors"]]
    return "\n".join(lines) if lines else "Upload one or more chest X-rays (JPEG, PNG or DICOM)."


def gradcam_figure(result, ncols=3):
    """The overlays with one colour bar, as an RGB uint8 array (None when no image was readable)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from pneumonet.plots import plot_gradcam_grid

    if not result["rows"]:
        return None
    n = len(result["rows"])
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(3.6 * ncols + 1.2, 4.0 * nrows), dpi=100)  # no pyplot: requests run in threads
    axes = fig.subplots(nrows, ncols, squeeze=False)
    titles = [f"{r['image']}\nP={r['p_pneumonia']:.3f} -> {r['decision']}" for r in result["rows"]]
    plot_gradcam_grid(result["images"], result["cams"], titles, ncols=ncols, axes=axes)
    fig.axes[-1].yaxis.label.set_size(7)  # the colour bar's label, whole even for a single row of images
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def model_card_markdown(model_path):
    """The run's ``MODEL_CARD.md`` (written from its ``metrics.json`` when missing), with a warning when the
    model file is not the one the run's metrics describe."""
    from pneumonet.model_card import run_card, write_model_card
    from pneumonet.models import check_against_record

    run_dir = Path(model_path).parent
    warning = check_against_record(model_path)
    prefix = f"> **Warning:** {warning}\n\n" if warning else ""
    card = run_dir / MODEL_CARD
    if card.is_file():
        return prefix + card.read_text()
    if not (run_dir / METRICS).is_file():
        return prefix + f"No model card: there is no metrics.json beside {model_path}."
    try:
        return prefix + write_model_card(run_dir).read_text()
    except PermissionError:  # a read-only results folder: show the card without keeping it
        return prefix + run_card(run_dir)


def run_summary(name, metadata):
    """One line about the selected model: what it is and its threshold."""
    size = metadata.get("image_size") or ["?", "?"]
    threshold = metadata.get("threshold")
    where = "chosen on validation" if threshold is not None else "none stored: 0.5 is used"
    return (f"**Model:** `{name}` ({metadata.get('backbone', '?')}, {size[0]} x {size[1]} px); decision threshold "
            f"**{float(threshold if threshold is not None else 0.5):.3f}** ({where}).")


def build_app(runs, examples=()):
    """The Gradio Blocks app.

    Args:
        runs: {run name: model path} (``discover_runs``); the first is selected.
        examples: [(path, label)] from the dev test split (``example_images``).
    """
    import gradio as gr

    if not runs:
        raise ValueError("at least one run is needed. Received: runs={}")
    names = list(runs)

    def on_files(run, files):
        model, metadata = load_run(runs[run])
        paths = [str(f) for f in (files or [])]
        if not paths:
            return results_markdown({"rows": [], "errors": []}), None
        result = analyse(model, metadata, paths)
        return results_markdown(result), gradcam_figure(result)

    def on_run(run, files):
        _, metadata = load_run(runs[run])
        return (run_summary(run, metadata), model_card_markdown(runs[run]), *on_files(run, files))

    _, first_meta = load_run(runs[names[0]])  # fail now, in the terminal, if the model cannot be loaded
    with gr.Blocks(title="pneumonet demo") as app:
        gr.Markdown(f"# pneumonet: pneumonia on pediatric chest X-rays\n**{NOT_A_DEVICE}** Not for diagnosis.")
        with gr.Row():
            with gr.Column(scale=1):
                run = gr.Dropdown(names, value=names[0], label="Trained model (run)", elem_id="run",
                                  interactive=len(names) > 1)
                info = gr.Markdown(run_summary(names[0], first_meta), elem_id="run-info")
                files = gr.File(file_count="multiple", label="Chest X-rays: JPEG, PNG or DICOM (.dcm)",
                                elem_id="upload")
                if examples:
                    gr.Examples([[[path]] for path, _ in examples], inputs=[files], elem_id="examples",
                                label="Examples from the dev test split (evaluated on, never trained on)",
                                example_labels=[f"dev test split: {label} ({Path(path).name})"
                                                for path, label in examples])
            with gr.Column(scale=2):
                results = gr.Markdown(results_markdown({"rows": [], "errors": []}), elem_id="results")
                heatmap = gr.Image(label="Grad-CAM overlay", type="numpy", elem_id="gradcam", interactive=False)
        with gr.Accordion("Model card", open=False, elem_id="model-card-accordion"):
            card = gr.Markdown(model_card_markdown(runs[names[0]]), elem_id="model-card")
        files.change(on_files, inputs=[run, files], outputs=[results, heatmap])
        run.change(on_run, inputs=[run, files], outputs=[info, card, results, heatmap])
    return app


def launch(model_paths, data_dir=None, n_examples=4, host="127.0.0.1", port=7860, block=True):
    """Start the demo on ``http://host:port``; returns the Gradio app (``block=False``: it runs in a thread)."""
    from pneumonet.export import require_modules

    require_modules(["gradio"], "demo")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local demo
    os.environ.setdefault("MPLBACKEND", "Agg")
    runs = discover_runs(model_paths)
    examples = example_images(data_dir, n=n_examples)
    app = build_app(runs, examples)
    allowed = sorted({str(Path(path).resolve().parent) for path, _ in examples})
    print(f"pneumonet demo: {len(runs)} run(s) ({', '.join(runs)}), {len(examples)} example image(s); "
          f"open http://{host}:{port} ({NOT_A_DEVICE})", flush=True)
    app.launch(server_name=host, server_port=port, allowed_paths=allowed, prevent_thread_lock=not block,
               quiet=True, show_error=True)
    return app
