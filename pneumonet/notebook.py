"""What every notebook does first, in one call: quiet logs, the data folder, the results folder, the profile."""

import argparse
import dataclasses
import json
import os
import re
import sys
from pathlib import Path

DEFAULT_RESULTS = "../runs/notebooks"
# in Colab, results go where they survive the runtime when possible: the mounted Drive, else /content
COLAB_ROOTS = (Path("/content/drive/MyDrive"), Path("/content"))

from pneumonet import quiet_tensorflow


@dataclasses.dataclass
class Session:
    """What ``setup`` resolved for a notebook."""
    data: Path          # the data folder (Kaggle layout), resolved once
    results: Path       # where this notebook writes
    profile: str        # "cpu" or "gpu": image sizes, epochs, augmentation of the line-up
    in_colab: bool
    smoke: bool
    weights: object     # "imagenet", None (smoke) or a weights file
    synthetic: bool     # generated images (the demo), not patients

    @property
    def toy(self):
        """True for a smoke run or generated data: the numbers show that the code runs, nothing about X-rays."""
        return self.smoke or self.synthetic


def colab_results_dir(roots=None):
    """``pneumonet_runs`` under the first of ``roots`` (default ``COLAB_ROOTS``) that exists."""
    for root in roots or COLAB_ROOTS:
        if Path(root).is_dir():
            return Path(root) / "pneumonet_runs"
    return Path(DEFAULT_RESULTS)


def setup(data_dir=None, results_dir=DEFAULT_RESULTS, profile=None, smoke=False, weights="imagenet"):
    """Prepare a notebook: silence TensorFlow's start-up lines, resolve the data (argument, ``$PNEUMONET_DATA``,
    ``data/chest_xray`` here or in the repository, then a kagglehub download in Colab), create the results folder,
    pick the profile (the GPU one when Keras sees a GPU). In Colab the default results folder moves to Drive (when
    mounted) or /content. Smoke runs use no pretrained weights; a smoke run or generated data is announced as such,
    so that its numbers are not read as findings. Returns a ``Session``."""
    quiet_tensorflow()
    import warnings

    import keras
    import pandas as pd

    keras.utils.disable_interactive_logging()  # no progress bars (with terminal codes) from any predict call
    # Keras warns when a model built on a named input is called with a plain array: harmless, and noisy
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")

    from pneumonet.data import resolve_data_dir
    from pneumonet.data.download import DATA_ENV
    from pneumonet.data.synthetic import is_synthetic
    from pneumonet.errors import DataUnavailableError
    from pneumonet.scaling import choose_profile

    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 30)
    in_colab = "google.colab" in sys.modules
    try:
        data = resolve_data_dir(data_dir, download=in_colab, checkout=not in_colab)  # Colab: no checkout
    except DataUnavailableError:
        if data_dir or os.environ.get(DATA_ENV) or in_colab:  # a named folder, or the download: said as it is
            raise
        raise DataUnavailableError(  # said in a notebook's terms: there is no --data here
            f"no data folder found: set data_dir = \"/path/to/chest_xray\" in the parameters cell, set {DATA_ENV} "
            "before starting Jupyter, or put the Kaggle download in the repository's data/chest_xray (see "
            "data/README.md)") from None
    results = colab_results_dir() if in_colab and str(results_dir) == DEFAULT_RESULTS else Path(results_dir)
    results.mkdir(parents=True, exist_ok=True)
    profile = choose_profile(profile)  # checks a given one; None: "gpu" when Keras sees a GPU or TPU
    session = Session(data=data, results=results, profile=profile, in_colab=in_colab, smoke=bool(smoke),
                      weights=None if smoke else weights, synthetic=is_synthetic(data))
    if session.toy:  # said first, so that no number below is read as a finding
        what = ("generated images (the demo)" if session.synthetic
                else "a smoke run (tiny images, one epoch, no pretrained weights)")
        print(f"NOTE: {what}. The numbers below only show that the code runs; the discussion cells are written "
              "for real data and do not apply to them.")
    return session


def rounded(frame, digits=3):
    """``frame`` with its float cells rounded as Python's ``f"{x:.3f}"`` rounds them, so a table agrees with the
    text and the summary tables beside it: 385 / 400 = 0.9625 shows as 0.963 (pandas' ``round`` rounds half to
    even on the scaled value and shows 0.962)."""
    return frame.map(lambda value: round(float(value), digits) if isinstance(value, float) else value)


def percent(value, decimals=1):
    """``value`` (a fraction) as a percentage that agrees with the three-decimal tables: 0.9625 is 96.3%, as
    0.963 is (``f"{0.9625:.1%}"`` gives 96.2%)."""
    return f"{round(float(value), decimals + 2) * 100:.{decimals}f}%"


# -- "Open in Colab" badges, written from the repository's public URL ---------------------------------------------
COLAB_BADGE_TAG = "colab-badge"
REPO_LINE = re.compile(r'^(\s*repo = os\.environ\.get\("PNEUMONET_REPO")[^)]*\)', re.M)
README_MARKERS = ("<!-- colab-badges -->", "<!-- /colab-badges -->")


def colab_url(repository, notebook, branch="main"):
    """Where Colab opens ``notebooks/<notebook>.ipynb`` of a GitHub ``repository`` (``https://github.com/O/N``)."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repository or "")
    if not match:
        raise ValueError("repository must be a GitHub URL such as https://github.com/OWNER/pneumonet (Colab opens "
                         f"notebooks from GitHub). Received: repository={repository!r}")
    owner, name = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/notebooks/{notebook}.ipynb"


def badge_markdown(repository, notebook, branch="main"):
    """The "Open In Colab" badge of one notebook, as Markdown."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(repository, notebook, branch)})")


def add_colab_badges(repository, branch="main", folder=None, readme=None):
    """Give every notebook in ``folder`` an "Open in Colab" badge as its first cell and make its setup cell
    install pneumonet from ``repository``; list the badges in ``readme`` between ``README_MARKERS``. Running it
    again replaces what an earlier run wrote. Returns the notebooks written."""
    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent.parent / "notebooks"
    colab_url(repository, "check", branch)  # refuses a bad URL before anything is written
    written = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        notebook = json.loads(path.read_text())
        cells = [c for c in notebook["cells"] if COLAB_BADGE_TAG not in c.get("metadata", {}).get("tags", [])]
        badge = {"cell_type": "markdown", "metadata": {"tags": [COLAB_BADGE_TAG]},
                 "source": [badge_markdown(repository, path.stem, branch)]}
        if "id" in cells[0]:
            badge["id"] = f"{COLAB_BADGE_TAG}-{path.stem[:2]}"
        for cell in cells:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and REPO_LINE.search(source):
                cell["source"] = REPO_LINE.sub(rf'\1, "{repository}")', source).splitlines(True)
        notebook["cells"] = [badge] + cells
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        written.append(path)
    if readme is not None and Path(readme).exists():
        text, (start, end) = Path(readme).read_text(), README_MARKERS
        if start in text and end in text:
            rows = "\n".join(f"| `{p.stem}` | {badge_markdown(repository, p.stem, branch)} |" for p in written)
            table = f"{start}\n| notebook | Colab |\n|---|---|\n{rows}\n{end}"
            Path(readme).write_text(text[:text.index(start)] + table + text[text.index(end) + len(end):])
    return written


def main(argv=None):
    """``python -m pneumonet.notebook --repository URL``: write the badges; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pneumonet.notebook",
                                     description="write 'Open in Colab' badges from the repository's URL")
    parser.add_argument("--repository", required=True, help="https://github.com/OWNER/NAME")
    parser.add_argument("--branch", default="main")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    try:
        written = add_colab_badges(args.repository, args.branch, readme=root / "README.md")
    except ValueError as exc:
        print(f"badges: {exc}", file=sys.stderr)
        return 2
    print(f"badges written to {len(written)} notebooks and README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
