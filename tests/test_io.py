import pytest

from pneumonet.runs import new_run_dir
from pneumonet.io import atomic_path, read_json, staged_dir, write_json


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


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_staged_folder_is_swapped_in_only_on_success(tmp_path):
    final = tmp_path / "results"
    with staged_dir(final) as staging:
        (staging / "metrics.json").write_text("first")
        assert not final.exists()  # nothing visible until the block succeeds
    assert _tree(final) == {"metrics.json": b"first"}

    with pytest.raises(FileExistsError, match="overwrite"):  # refused before any work starts
        with staged_dir(final):
            raise AssertionError("the block must not run")
    with pytest.raises(RuntimeError):
        with staged_dir(final, overwrite=True) as staging:
            (staging / "metrics.json").write_text("half")
            raise RuntimeError("a notebook failed")
    assert _tree(final) == {"metrics.json": b"first"}  # the failed job damaged nothing
    failed = [p for p in tmp_path.iterdir() if ".failed-" in p.name]
    assert len(failed) == 1 and _tree(failed[0]) == {"metrics.json": b"half"}  # kept for inspection

    with staged_dir(final, overwrite=True) as staging:
        (staging / "metrics.json").write_text("second")
    assert _tree(final) == {"metrics.json": b"second"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["results", failed[0].name])  # no leftovers


def test_staged_folder_refuses_a_folder_that_appeared_meanwhile(tmp_path):
    final = tmp_path / "results"
    with pytest.raises(FileExistsError):
        with staged_dir(final) as staging:
            (staging / "new.txt").write_text("new")
            final.mkdir()
            (final / "other.txt").write_text("another job's result")  # a second writer finished first
    assert _tree(final) == {"other.txt": b"another job's result"}
    kept = [p for p in tmp_path.iterdir() if p.name != "results"]
    assert [p.name.split("-")[0] for p in kept] == ["results.failed"] and _tree(kept[0]) == {"new.txt": b"new"}


def test_written_files_and_swapped_folders_get_the_usual_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)  # tempfile alone would leave 0o600 files and 0o700 folders: unreadable to the group
    try:
        target = write_json(tmp_path / "metrics.json", {"ok": 1})
        with staged_dir(tmp_path / "results") as staging:
            (staging / "a.txt").write_text("a")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "results").stat().st_mode) == 0o755
