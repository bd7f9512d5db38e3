import dataclasses
import json

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pneumonet.models import backbone_layers, build_model
from pneumonet.training import TrainConfig, train_two_phase
from pneumonet.training.features import cache_boundary, split_model


def test_cached_activation_training_equals_the_end_to_end_model(synthetic_arrays, tmp_path):
    train, val, test = (synthetic_arrays[k] for k in ("train", "val", "test"))
    model = build_model("mobilenet_v2", image_size=48)
    config = TrainConfig(epochs_head=2, epochs_finetune=2, unfreeze_last=9, patience=5)
    result = train_two_phase(model, train[:2], val[:2], config, run_dir=tmp_path, predict={"test": test[0]},
                             verbose=0)
    # the grafted, ordinary end-to-end model predicts what the feature path predicted
    direct = model.predict(test[0][..., None].astype("float32"), verbose=0)
    np.testing.assert_allclose(direct, result.predictions["test"], atol=1e-5)
    assert result.history["phase"].tolist() == [1, 1, 2, 2]
    assert result.history.loc[2, "learning_rate"] == pytest.approx(1e-5)
    assert (tmp_path / "history.csv").exists() and list((tmp_path / "checkpoints").glob("best_weights.*.npz"))
    # the kept epoch is the first with the highest validation AUC, and that AUC is what the result reports
    assert result.best_epoch == int(result.history["val_auc"].idxmax()) + 1
    assert result.best_val_auc == pytest.approx(result.history["val_auc"].max())


def test_phase_two_trains_only_the_unfrozen_layers(synthetic_arrays):
    train, val = synthetic_arrays["train"], synthetic_arrays["val"]
    model = build_model("resnet18", image_size=48)
    frozen_before = [w.copy() for w in backbone_layers(model)[0].get_weights()]
    train_two_phase(model, train[:2], val[:2], TrainConfig(epochs_head=1, epochs_finetune=1, unfreeze_last=5),
                    verbose=0)
    for a, b in zip(frozen_before, backbone_layers(model)[0].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_clean_cut_skips_residual_branches():
    model = build_model("resnet18", image_size=48)
    from pneumonet.models import unfreeze

    unfreeze(model, last=5)  # inside the last residual block, from conv5_block2_2_conv on
    boundary = cache_boundary(model)
    assert boundary.name == "conv5_block1_out"  # the block input: the only tensor that cuts the graph
    prefix, suffix = split_model(model, boundary)
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 1)).astype("float32")
    np.testing.assert_allclose(suffix.predict(prefix.predict(x, verbose=0), verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)


def test_phase_one_caches_the_pooled_vector_not_the_feature_map():
    from pneumonet.models import freeze_backbone

    model = freeze_backbone(build_model("mobilenet_v2", image_size=48))
    assert cache_boundary(model).name == "head_gap"  # parameter-free and deterministic: part of the cache
    model = freeze_backbone(build_model("mobilenet_v2", head="flatten_sigmoid", image_size=48))
    assert cache_boundary(model).name == "head_flatten"
    everything = build_model("mobilenet_v2", image_size=48)
    for layer in everything.layers:
        layer.trainable = True
    assert cache_boundary(everything) is None  # a cut in the input plumbing would only store float images


def test_cached_and_uncached_training_give_the_same_run(synthetic_arrays):
    train, val = synthetic_arrays["train"], synthetic_arrays["val"]
    # phase 2 fine-tunes inside the last residual block: cached at its input, then at the pooled vector
    config = TrainConfig(epochs_head=3, epochs_finetune=2, unfreeze_last=5, patience=5)
    runs = []
    for cache in (True, False):
        keras.utils.set_random_seed(0)  # the same initial weights for both
        model = build_model("resnet18", image_size=48)
        runs.append(train_two_phase(model, train[:2], val[:2], dataclasses.replace(config, cache_activations=cache),
                                    predict={"val": val[0]}, verbose=0))
    cached, uncached = runs
    # same batches, same dropout masks, same updates: at most float rounding differs between the two graphs
    # (another shuffling seed changes the losses in the third digit)
    for column in ("loss", "val_loss"):
        np.testing.assert_allclose(cached.history[column], uncached.history[column], rtol=1e-4)
    np.testing.assert_allclose(cached.predictions["val"], uncached.predictions["val"], atol=1e-4)


def test_cnn_learns_the_synthetic_signal(trained_cnn, synthetic_arrays):
    _, result = trained_cnn
    labels = synthetic_arrays["test"][1]
    assert roc_auc_score(labels, result.predictions["test"][:, 0]) > 0.8


def test_softmax_head_trains_with_one_hot_targets(synthetic_arrays):
    train, val = synthetic_arrays["train"], synthetic_arrays["val"]
    model = build_model("cnn", head="gap_dense_softmax", image_size=48)
    result = train_two_phase(model, train[:2], val[:2], TrainConfig(epochs_head=1, epochs_finetune=0),
                             predict={"val": val[0]}, verbose=0)
    assert result.predictions["val"].shape == (len(val[0]), 2)


def test_config_is_checked():
    with pytest.raises(ValueError, match="epochs_head"):
        TrainConfig(epochs_head=-1)


def test_three_class_head_trains_on_subtypes(synthetic_catalog):
    from pneumonet.data import subset
    from pneumonet.evaluation import multiclass_metrics
    from pneumonet.pipelines import load_arrays
    from pneumonet.training import train_from_scratch

    train, val = (load_arrays(subset(synthetic_catalog, s), (48, 48), label_column="subtype_label", progress=False)
                  for s in ("train", "val"))
    assert set(train[1]) == {0, 1, 2}
    model = build_model("cnn", head="gap_dense_softmax3", image_size=48)
    result = train_from_scratch(model, train[:2], val[:2], TrainConfig(epochs_head=2), predict={"val": val[0]},
                                verbose=0)
    probs = result.predictions["val"]
    assert probs.shape == (len(val[0]), 3)
    metrics = multiclass_metrics(val[1], probs)
    matrix = np.asarray(metrics["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum(axis=1).tolist() == np.bincount(val[1], minlength=3).tolist()
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    np.testing.assert_array_equal(np.diag(matrix).sum(), (probs.argmax(axis=1) == val[1]).sum())


def test_an_experiments_augmentation_reaches_the_model_the_views_and_the_record(synthetic_catalog, tmp_path,
                                                                                 monkeypatch):
    import pneumonet.experiment as experiment_module
    from pneumonet.experiment import Experiment, run_experiment
    from pneumonet.models.saving import load_model
    from pneumonet.pipelines import Augment

    drawn = []
    real_add_views = experiment_module.add_views

    def spying(*args, **kwargs):
        drawn.append(kwargs.get("augment"))
        return real_add_views(*args, **kwargs)

    monkeypatch.setattr(experiment_module, "add_views", spying)
    wide = Augment(zoom=0.25, rotation=3.0)
    experiment = Experiment("wide", "cnn", head="gap_dense_dropout", weights=None, image_size=32, augment=True,
                            views=1, augmentation=wide, train=TrainConfig(epochs_head=1, batch_size=16))
    record = run_experiment(experiment, synthetic_catalog, tmp_path, n_boot=10, verbose=0)
    assert drawn == [wide]  # the views are drawn with the experiment's recipe, not the default one
    layer = load_model(tmp_path / "wide" / "model.keras")[0].get_layer("augment_affine")
    assert (layer.zoom, layer.rotation) == (0.25, 3.0)  # and the in-model augmentation too
    assert record["config"]["augmentation"]["zoom"] == 0.25
    assert Experiment(**dataclasses.asdict(experiment)).augmentation == wide  # a stored config rebuilds it


def test_a_resumed_finished_phase_ends_on_its_best_weights_unless_a_later_phase_started(tmp_path):
    # a run killed after its phase's last checkpoint (which holds the last epoch's weights) and before the best
    # weights were put back must, on --resume, continue or evaluate from the best epoch, as a straight run does
    from pneumonet.training.loop import Phase, RunState, _save_arrays, run_phase

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")

    def phase_of(model):
        def compile_fn(m, lr):
            m.compile(keras.optimizers.Adam(lr), "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
        return Phase(1, model, lambda epoch: (x, y), (x, y), 2, 1e-2, compile_fn)

    def resumed(later_phase_started):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
        state = RunState(model, tmp_path / "checkpoints")
        assert state.restore()
        if later_phase_started:
            state.phases[2] = {"done": 1, "wait": 0, "best": 0.9, "plateau_wait": 0, "lr": 1e-5, "stopped": False}
        last = model.get_weights()
        run_phase(state, phase_of(model), TrainConfig(patience=5))
        return model.get_weights(), last

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    run_phase(RunState(model, tmp_path / "checkpoints"), phase_of(model), TrainConfig(patience=5))
    best = [w + 1.0 for w in model.get_weights()]  # as when an earlier epoch than the last was the best
    saved = json.loads((tmp_path / "checkpoints" / "state.json").read_text())
    _save_arrays(tmp_path / "checkpoints" / f"best_weights.{saved['best_slot']}.npz",
                 [np.asarray(saved["best_epoch"])] + best)
    weights, last = resumed(later_phase_started=False)
    assert all(np.array_equal(a, b) for a, b in zip(weights, best))
    assert not all(np.array_equal(a, b) for a, b in zip(last, best))
    weights, last = resumed(later_phase_started=True)  # the checkpoint already carries what phase 2 trained
    assert all(np.array_equal(a, b) for a, b in zip(weights, last))
