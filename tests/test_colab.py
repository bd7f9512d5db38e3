import json
import shutil

import pytest

from pneumonet.notebook import COLAB_BADGE_TAG, README_MARKERS, add_colab_badges, colab_url, main
from pneumonet.runner import NOTEBOOKS, notebooks_dir

REPOSITORY = "https://github.com/example-org/pneumonet"


def test_colab_url_is_built_from_the_repository():
    assert colab_url(REPOSITORY + ".git", "03_transfer_learning", branch="dev") == (
        "https://colab.research.google.com/github/example-org/pneumonet/blob/dev/notebooks/"
        "03_transfer_learning.ipynb")
    with pytest.raises(ValueError, match="Received: repository='git@github.com:o/n.git'"):
        colab_url("git@github.com:o/n.git", "01_data_exploration")


def test_badges_go_first_install_from_the_repository_and_can_be_rewritten(tmp_path):
    folder = tmp_path / "notebooks"
    shutil.copytree(notebooks_dir(), folder)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{README_MARKERS[0]}\nold\n{README_MARKERS[1]}\n\nafter\n")
    add_colab_badges("https://github.com/first/pneumonet", folder=folder, readme=readme)
    written = add_colab_badges(REPOSITORY, folder=folder, readme=readme)  # a second run replaces the first
    assert [p.stem for p in written] == list(NOTEBOOKS)
    for path in written:
        cells = json.loads(path.read_text())["cells"]
        badges = [c for c in cells if COLAB_BADGE_TAG in c["metadata"].get("tags", [])]
        assert len(badges) == 1 and cells[0] is badges[0]
        assert colab_url(REPOSITORY, path.stem) in "".join(badges[0]["source"])
        install = next("".join(c["source"]) for c in cells if "PNEUMONET_REPO" in "".join(c["source"]))
        assert f'os.environ.get("PNEUMONET_REPO", "{REPOSITORY}")' in install and "first/" not in install
        compile(install.replace("%pip", "#"), path.name, "exec")  # still valid Python (the magic aside)
    text = readme.read_text()
    assert "old" not in text and text.count("colab-badge.svg") == len(NOTEBOOKS) and text.endswith("after\n")


def test_bad_repository_is_one_line_and_writes_nothing(capsys):
    before = {p: p.read_bytes() for p in notebooks_dir().glob("*.ipynb")}
    assert main(["--repository", "not-a-url"]) == 2
    assert "Received: repository='not-a-url'" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in notebooks_dir().glob("*.ipynb")} == before


def test_notebook_tables_and_text_round_a_tie_the_same_way():
    import pandas as pd

    from pneumonet.notebook import percent, rounded

    sensitivity = 385 / 400  # 0.9625: pandas' round gives 0.962, the summary tables' f"{x:.3f}" 0.963
    table = rounded(pd.DataFrame({"model": ["a"], "sensitivity": [sensitivity], "fn": [15]}))
    assert table.loc[0, "sensitivity"] == 0.963 and table.loc[0, "model"] == "a" and table.loc[0, "fn"] == 15
    assert f"{sensitivity:.3f}" == "0.963" and percent(sensitivity) == "96.3%"  # text, tables and summary agree
    assert percent(0.0625) == "6.2%" and f"{0.0625:.3f}" == "0.062"  # an exact binary tie: both half to even


def test_notebook_setup_says_how_to_name_the_data_in_a_notebook(tmp_path, monkeypatch):
    import pneumonet.data.download as download
    from pneumonet.errors import DataUnavailableError
    from pneumonet.notebook import setup

    monkeypatch.setattr(download, "CHECKOUT", tmp_path / "no-checkout")
    monkeypatch.delenv(download.DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataUnavailableError, match="data_dir = .* in the parameters cell") as info:
        setup(results_dir=tmp_path / "results")
    assert "--data" not in str(info.value)  # a notebook has no command-line options
    with pytest.raises(DataUnavailableError, match="does not exist: .*missing"):  # a named folder: named back
        setup(data_dir=tmp_path / "missing", results_dir=tmp_path / "results")


def test_notebook_setup_announces_smoke_runs_and_generated_data(tmp_path, synthetic_root, capsys):
    from pneumonet.data.synthetic import SYNTHETIC_MARKER
    from pneumonet.notebook import setup

    session = setup(synthetic_root, tmp_path / "results")
    assert session.synthetic and session.toy and "NOTE: generated images" in capsys.readouterr().out
    real_looking = tmp_path / "chest_xray"
    shutil.copytree(synthetic_root, real_looking)
    (real_looking / SYNTHETIC_MARKER).unlink()
    session = setup(real_looking, tmp_path / "results")
    assert not session.toy and "NOTE" not in capsys.readouterr().out  # a real run prints nothing of the kind
    session = setup(real_looking, tmp_path / "results", smoke=True)
    assert session.toy and "NOTE: a smoke run" in capsys.readouterr().out
