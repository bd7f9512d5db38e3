import pytest

from pneumonet.evaluation import new_run_dir
from pneumonet.io import atomic_path, read_json, write_json


def test_a_crash_never_leaves_half_a_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"ok": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("killed mid-write")
    assert read_json(target) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left behind


def test_runs_are_not_overwritten_unless_asked(tmp_path):
    run = new_run_dir(tmp_path, "vgg16")
    write_json(run / "metrics.json", {"run": "vgg16"})
    with pytest.raises(FileExistsError, match="overwrite"):
        new_run_dir(tmp_path, "vgg16")
    assert new_run_dir(tmp_path, "vgg16", overwrite=True) == run
