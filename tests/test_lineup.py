"""The default experiments per hardware profile, the recipe comparison behind them, and what every notebook does
first."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pneumonet.lineup import cnn_baseline, reference_lineup
from pneumonet.scaling import choose_profile
from tests.conftest import load_benchmark


def test_cpu_profile_trains_the_pristine_backbones_on_cached_augmented_views():
    lineup = {e.name: e for e in reference_lineup("cpu")}
    assert list(lineup) == ["densenet121", "xception", "mobilenet_v2"]
    for experiment in lineup.values():
        assert experiment.views >= 1 and not experiment.augment  # views keep the frozen layers' single pass
        assert experiment.train.label_smoothing > 0 and experiment.train.weight_decay > 0
    assert lineup["mobilenet_v2"].views == 2 and lineup["densenet121"].image_size == 224


def test_gpu_profile_adds_the_reference_studies_and_augments_every_epoch():
    lineup = {e.name: e for e in reference_lineup("gpu", radimagenet_file="RadImageNet-ResNet50_notop.h5")}
    assert {"vgg16", "resnet50", "inception_v3", "resnet152_v2", "resnet50_flatten_radimagenet"} <= set(lineup)
    assert all(e.augment and e.views == 0 for e in lineup.values())
    assert lineup["inception_v3"].image_size == 299 and lineup["inception_v3"].train.unfreeze_from == "mixed8"
    assert cnn_baseline(profile="gpu").image_size > cnn_baseline(profile="cpu").image_size


def test_smoke_shrinks_everything_and_bad_profiles_are_named():
    for experiment in reference_lineup("cpu", smoke=True) + [cnn_baseline(smoke=True)]:
        assert experiment.train.epochs_head == 1 and experiment.image_size <= 75 and experiment.views == 0
    with pytest.raises(ValueError, match="profile='tpu'"):
        reference_lineup("tpu")
    assert choose_profile() == "cpu"  # this machine and CI have no accelerator


def test_recipe_comparison_changes_one_idea_at_a_time_from_todays_recipe():
    module = load_benchmark("recipes")

    cnn = {e.name: e for e in module.recipes("cnn", None, 128, 0, 8)}
    assert dataclasses.replace(cnn["today"], name="cnn_baseline") == cnn_baseline(image_size=128, epochs=8)
    assert all(e.backbone == "cnn" and e.weights is None and e.augment for e in cnn.values())  # from scratch
    assert cnn["regularized"].views == 0 and cnn["regularized"].train.label_smoothing == 0.1
    assert cnn["views1"].views == 1 and cnn["views1"].train.label_smoothing == 0
    assert cnn["views1"].train.epochs_head == 4  # twice the images per epoch, half the epochs
    assert cnn["views1_all_epochs"].train == cnn["today"].train and cnn["views1_all_epochs"].views == 1
    assert cnn["zoom"].augmentation.zoom == 0.25 and cnn["zoom"].train == cnn["today"].train
    assert cnn["today"].augmentation == cnn["views1"].augmentation == cnn_baseline().augmentation
    assert cnn["border"].border == 0.08 and cnn["border"].train == cnn["today"].train and cnn["border"].views == 0
    assert cnn["zoom_border"].border == 0.08 and cnn["zoom_border"].augmentation.zoom == 0.25
    assert dataclasses.replace(cnn["content_crop"], name="today", content_crop=False) == cnn["today"]  # only that
    assert not any(e.content_crop for n, e in cnn.items() if not n.endswith("crop"))
    assert cnn["larger"].image_size == 160 and all(e.image_size == 128 for n, e in cnn.items() if n != "larger")
    assert dataclasses.replace(cnn["larger"], name="today", image_size=128) == cnn["today"]  # only the size
    assert cnn["today"].head == "flatten_dense_dropout"
    assert dataclasses.replace(cnn["gap_head"], name="today", head="flatten_dense_dropout") == cnn["today"]
    dense = {e.name: e for e in module.recipes("densenet121", "gap_dense_dropout", 224, 12, 12)}
    assert "gap_head" not in dense  # its head pools already: the variant would repeat today's recipe
    assert not dense["today"].augment and dense["today"].views == 0 and dense["today"].train.unfreeze_last == 12
    assert dense["views1_regularized_border"].border == 0.08 and dense["views2_regularized"].views == 2
    assert dataclasses.replace(dense["views1_regularized_crop"], name="views1_regularized",
                               content_crop=False) == dense["views1_regularized"]


def test_recipes_over_seeds_differ_only_in_the_seed_and_are_summarized_per_recipe():
    module = load_benchmark("recipes")
    today = module.recipes("cnn", None, 128, 0, 8)[0]
    again = module.with_seed(today, 7)
    assert again.name == "today_seed7" and again.train.seed == 7 and today.train.seed == 42
    assert dataclasses.replace(again, name="today", train=today.train) == today
    figures = {figure: [0.9, 1.0, 0.5] for figure in module.JUDGED}
    table = pd.DataFrame({"recipe": ["b", "b", "a"], "seed": [1, 2, 1], **figures})
    summary = module.summarize_seeds(table).set_index("recipe")
    assert list(summary.index) == ["b", "a"]  # the table's order, not alphabetical
    assert summary.loc["b", "seeds"] == 2 and summary.loc["a", "seeds"] == 1
    assert summary.loc["b", "robust_auc_mean"] == 0.95 and summary.loc["b", "robust_auc_std"] == 0.0707  # ddof=1
    assert np.isnan(summary.loc["a", "worst_auc_std"])  # one seed has no spread


def test_notebook_setup_resolves_the_data_and_the_results_folder(synthetic_root, tmp_path):
    from pneumonet.notebook import setup

    session = setup(str(synthetic_root), tmp_path / "out", smoke=True)
    assert session.data == synthetic_root and session.results.is_dir() and session.profile == "cpu"
    assert session.weights is None and not session.in_colab  # smoke: no pretrained weights
    with pytest.raises(Exception, match="does not exist"):
        setup(str(tmp_path / "nowhere"), tmp_path / "out")


def test_in_colab_results_go_to_drive_or_content(synthetic_root, tmp_path, monkeypatch):
    import sys
    import types

    import pneumonet.notebook as notebook

    drive, content = tmp_path / "drive" / "MyDrive", tmp_path / "content"
    content.mkdir()
    monkeypatch.setattr(notebook, "COLAB_ROOTS", (drive, content))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))  # a stand-in Colab
    assert notebook.setup(str(synthetic_root), smoke=True).results == content / "pneumonet_runs"
    drive.mkdir(parents=True)  # Drive mounted: results survive the runtime
    session = notebook.setup(str(synthetic_root), smoke=True)
    assert session.in_colab and session.results == drive / "pneumonet_runs" and session.results.is_dir()
    assert notebook.setup(str(synthetic_root), tmp_path / "mine", smoke=True).results == tmp_path / "mine"


def test_recipes_per_shift_table_averages_severities_and_seeds_per_recipe():
    module = load_benchmark("recipes")
    frame = pd.DataFrame({"recipe": ["b"] * 5 + ["a"] * 3,
                          "seed": [1, 1, 1, 2, 2, 1, 1, 1],
                          "shift": ["none", "blur", "blur", "none", "blur", "none", "jpeg", "blur"],
                          "severity": [0, 1, 2, 0, 1, 0, 1, 1],
                          "auc": [0.9, 0.6, 0.4, 0.7, 0.8, 1.0, 0.5, 0.3]})
    table = module.per_shift(frame)
    assert list(table.index) == ["b", "a"] and list(table.columns) == ["clean", "blur", "jpeg"]
    assert table.loc["b", "clean"] == 0.8 and table.loc["b", "blur"] == 0.6  # (0.6 + 0.4 + 0.8) / 3
    assert table.loc["a", "blur"] == 0.3 and np.isnan(table.loc["b", "jpeg"])
