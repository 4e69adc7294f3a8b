"""One contract for every artifact store: local folder, fsspec memory:// and fsspec file://."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from headwater.artifacts import (
    ArtifactInfo,
    ArtifactStore,
    FsspecArtifactStore,
    LocalArtifactStore,
    open_artifact_store,
)
from headwater.artifacts.base import MARKER_NAME, TEMP_PREFIX
from headwater.context import make_staging_dir
from headwater.errors import NotFound

OUTPUT = b'{"rows": 3}'
PARAMS = b'{"day": "2024-05-01"}'
LABEL = "run7-clean-1"


@pytest.fixture(params=["local", "memory", "file-url", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    memory_root = f"/headwater-test-{uuid.uuid4().hex}"
    made: ArtifactStore
    if request.param == "local":
        made = LocalArtifactStore(tmp_path / "store")
    elif request.param == "memory":
        made = FsspecArtifactStore(f"memory://{memory_root}")
    elif request.param == "s3":
        made = FsspecArtifactStore(request.getfixturevalue("s3_bucket") + "/artifacts")
    else:
        made = FsspecArtifactStore(f"file://{tmp_path}/fs")
    yield made
    made.close()
    if request.param == "memory":
        memory = fsspec.filesystem("memory")
        if memory.exists(memory_root):
            memory.rm(memory_root, recursive=True)


def reopen(store: ArtifactStore) -> ArtifactStore:
    """A second store on the same root, as another process (API server, worker) would see it."""
    return type(store)(store.root)


def fail_on_marker(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the commit crash just before the marker, after every file was written."""
    write_file = store._write_file

    def crashing(prefix: str, name: str, data: bytes) -> None:
        if name == MARKER_NAME:
            raise OSError("disk gone")
        write_file(prefix, name, data)

    write_new_file = store._write_new_file

    def crashing_new(prefix: str, name: str, source: bytes | Path) -> None:
        if name == MARKER_NAME:
            raise OSError("disk gone")
        write_new_file(prefix, name, source)

    monkeypatch.setattr(store, "_write_file", crashing)
    monkeypatch.setattr(store, "_write_new_file", crashing_new)


def test_commit_makes_files_readable_listed_and_complete(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    assert prefix == "sales/clean/ab12"
    assert not store.is_complete(prefix)

    store.commit(prefix, {"output.json": OUTPUT, "params.json": PARAMS})

    assert store.is_complete(prefix)
    assert reopen(store).is_complete(prefix)
    assert store.read_bytes(prefix, "output.json") == OUTPUT
    assert store.list(prefix) == [
        ArtifactInfo("output.json", len(OUTPUT), store.uri(prefix, "output.json")),
        ArtifactInfo("params.json", len(PARAMS), store.uri(prefix, "params.json")),
    ]
    uri = store.uri(prefix, "params.json")
    assert uri.endswith("/sales/clean/ab12/params.json")
    with fsspec.open(uri, "rb") as f:  # the URI really names the file
        assert f.read() == PARAMS


def test_marker_records_files_sizes_and_output_hash(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    store.commit(prefix, {"output.json": OUTPUT, "params.json": PARAMS})

    with fsspec.open(store.uri(prefix, MARKER_NAME), "rb") as f:
        manifest = json.loads(f.read())
    assert manifest["files"] == [
        {"name": "output.json", "size": len(OUTPUT)},
        {"name": "params.json", "size": len(PARAMS)},
    ]
    assert manifest["output_sha256"] == hashlib.sha256(OUTPUT).hexdigest()


def test_crash_before_marker_is_not_complete_and_a_later_commit_succeeds(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    fail_on_marker(store, monkeypatch)

    with pytest.raises(OSError, match="disk gone"):
        store.commit(prefix, {"output.json": OUTPUT, "params.json": PARAMS})

    assert store.read_bytes(prefix, "output.json") == OUTPUT  # the files did land...
    assert not store.is_complete(prefix)  # ...but without the marker they do not count
    monkeypatch.undo()
    store.commit(prefix, {"output.json": OUTPUT, "params.json": PARAMS})
    assert store.is_complete(prefix)


def test_crash_during_recommit_does_not_leave_old_completion(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    store.commit(prefix, {"output.json": b"old"})
    fail_on_marker(store, monkeypatch)

    with pytest.raises(OSError, match="disk gone"):
        store.commit(prefix, {"output.json": b"new"})

    assert not store.is_complete(prefix)


def test_truncated_marker_is_not_complete(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    store.commit(prefix, {"output.json": OUTPUT})
    with fsspec.open(store.uri(prefix, MARKER_NAME), "wb") as f:
        f.write(b'{"files": [{"na')

    assert not store.is_complete(prefix)


def test_commit_after_a_crashed_commit_drops_its_leftovers(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "cd34")
    # A commit that died before its marker: files without `_COMPLETE`.
    store._prepare_dirs(prefix, ["half.csv"])
    store._write_file(prefix, "half.csv", b"1,2")
    assert not store.is_complete(prefix)

    store.commit(prefix, {"output.json": OUTPUT})

    assert [i.name for i in store.list(prefix)] == ["output.json"]


def test_recommit_replaces_content_and_drops_stale_files(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    store.commit(prefix, {"output.json": b"old", "stale.csv": b"a,b"})

    store.commit(prefix, {"output.json": b"new output"})

    assert store.is_complete(prefix)
    assert store.read_bytes(prefix, "output.json") == b"new output"
    assert [(i.name, i.size) for i in store.list(prefix)] == [("output.json", 10)]
    with pytest.raises(NotFound):
        store.read_bytes(prefix, "stale.csv")


def test_staged_files_keep_their_subfolders(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "report", "cd34")
    with store.staging_dir() as staging:
        staged = Path(staging)  # a local folder's name
        make_staging_dir(staging)
        (staged / "clean.csv").write_bytes(b"id\n1\n")
        (staged / "reports").mkdir()
        (staged / "reports" / "a.txt").write_bytes(b"all good")
        store.commit(prefix, {"output.json": OUTPUT}, staged_dir=staging)
    assert not staged.exists()

    assert [(i.name, i.size) for i in store.list(prefix)] == [
        ("clean.csv", 5),
        ("output.json", len(OUTPUT)),
        ("reports/a.txt", 8),
    ]
    assert reopen(store).read_bytes(prefix, "reports/a.txt") == b"all good"
    assert store.uri(prefix, "reports/a.txt").endswith("/sales/report/cd34/reports/a.txt")


def test_staging_dirs_are_fresh_and_separate(store: ArtifactStore) -> None:
    with store.staging_dir() as first, store.staging_dir() as second:
        assert first != second
        # Not created until a task writes a file (most never do).
        assert not os.path.exists(first)
        assert not os.path.exists(second)


def test_a_staging_dir_nobody_created_commits_only_the_given_files(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "report", "ef56")
    with store.staging_dir() as staged:
        store.commit(prefix, {"output.json": OUTPUT}, staged_dir=staged)
    assert [i.name for i in store.list(prefix)] == ["output.json"]


def test_closing_the_store_removes_its_staging_folders(store: ArtifactStore) -> None:
    with store.staging_dir() as staging:
        staged = Path(staging)
        make_staging_dir(staging)
        (staged / "left.txt").write_bytes(b"x")
        store.close()
        assert not staged.exists()
        assert not staged.parent.exists()


def test_tasks_that_write_no_files_make_no_staging_folder(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where tempfile has looked already
    with store.staging_dir() as first, store.staging_dir() as second:
        assert Path(first).parent == Path(second).parent
        assert Path(first).parent.parent == temp
        assert list(temp.iterdir()) == []
    store.close()
    assert list(temp.iterdir()) == []


def test_the_staging_root_is_made_private_by_the_first_writer(store: ArtifactStore) -> None:
    with store.staging_dir() as first, store.staging_dir() as second:
        assert not Path(first).parent.exists()
        assert make_staging_dir(first) == first
        assert Path(first).is_dir()
        assert Path(first).parent.stat().st_mode & 0o777 == 0o700
        make_staging_dir(second)
        make_staging_dir(second)  # again: it exists, as the root does
        assert Path(second).is_dir()


def test_a_staging_root_a_task_made_itself_is_made_private(store: ArtifactStore) -> None:
    """A task in a child process may make its folder with os.makedirs (the umask's mode,
    often 0755): the root is made private before anything is staged in it."""
    with store.staging_dir() as staged:
        os.makedirs(staged, mode=0o755)
        os.chmod(Path(staged).parent, 0o755)
        make_staging_dir(staged)
        assert Path(staged).parent.stat().st_mode & 0o777 == 0o700


def test_a_staging_root_made_by_someone_else_is_refused(
    store: ArtifactStore, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with store.staging_dir() as staged:
        Path(staged).parent.symlink_to(elsewhere)
        try:
            with pytest.raises(FileExistsError):
                make_staging_dir(staged)
        finally:
            Path(staged).parent.unlink()
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("pipeline", "task", "key"),
    [("", "t", "k"), ("p", "a/b", "k"), ("p", "t", ".."), ("..", "t", "k"), ("p", "t", "x/../y")],
)
def test_prefix_refuses_parts_that_could_escape(
    store: ArtifactStore, pipeline: str, task: str, key: str
) -> None:
    with pytest.raises(ValueError, match="invalid"):
        store.prefix(pipeline, task, key)


def test_operations_refuse_malformed_prefixes_and_names(store: ArtifactStore) -> None:
    with pytest.raises(ValueError):
        store.read_bytes("sales/../etc", "output.json")
    with pytest.raises(ValueError):
        store.commit("sales/clean", {"output.json": OUTPUT})
    prefix = store.prefix("sales", "clean", "ab12")
    with pytest.raises(ValueError):
        store.read_bytes(prefix, "../../other/output.json")
    with pytest.raises(ValueError, match="reserved"):
        store.commit(prefix, {MARKER_NAME: b"{}"})
    assert not store.is_complete(prefix)


def test_logs_are_readable_in_byte_ranges_before_and_after_publishing(
    store: ArtifactStore,
) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    log_dir = Path(store.log_dir(prefix, LABEL))  # a local folder's name
    log_dir.mkdir(parents=True)  # by the attempt's first write
    (log_dir / "combined.log").write_bytes(b"0123456789")

    assert store.read_log(prefix, LABEL, "combined.log") == b"0123456789"
    assert store.read_log(prefix, LABEL, "combined.log", 2, 5) == b"234"

    (log_dir / "combined.log").write_bytes(b"0123456789abc")  # the attempt kept writing
    store.publish_logs(prefix, LABEL)

    other = reopen(store)
    assert other.read_log(prefix, LABEL, "combined.log") == b"0123456789abc"
    assert other.read_log(prefix, LABEL, "combined.log", start=10) == b"abc"
    assert other.read_log(prefix, LABEL, "combined.log", 8, 100) == b"89abc"
    assert store.read_log(prefix, LABEL, "combined.log", 0, 3) == b"012"


def test_logs_live_beside_outputs_and_survive_the_commit(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    log_dir = Path(store.log_dir(prefix, LABEL))  # a local folder's name
    log_dir.mkdir(parents=True)
    (log_dir / "combined.log").write_bytes(b"started\n")
    store.publish_logs(prefix, LABEL)

    store.commit(prefix, {"output.json": OUTPUT})

    assert store.read_log(prefix, LABEL, "combined.log") == b"started\n"
    assert [i.name for i in store.list(prefix)] == [
        f"attempts/{LABEL}/combined.log",
        "output.json",
    ]


def test_missing_log_raises_not_found(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    store.log_dir(prefix, LABEL)
    with pytest.raises(NotFound, match=r"combined\.log"):
        store.read_log(prefix, LABEL, "combined.log")


def test_read_of_missing_file_raises_not_found_naming_the_uri(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    store.commit(prefix, {"output.json": OUTPUT})

    with pytest.raises(NotFound) as raised:
        store.read_bytes(prefix, "params.json")
    assert store.uri(prefix, "params.json") in str(raised.value)


def test_delete_removes_completion_and_files(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    store.commit(prefix, {"output.json": OUTPUT})

    store.delete(prefix)

    assert not store.is_complete(prefix)
    assert store.list(prefix) == []
    with pytest.raises(NotFound):
        store.read_bytes(prefix, "output.json")
    store.commit(prefix, {"output.json": b"again"})  # a forced re-run can commit again
    assert store.read_bytes(prefix, "output.json") == b"again"


def _all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_local_commit_leaves_no_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalArtifactStore(tmp_path)
    prefix = store.prefix("sales", "clean", "ab12")
    with store.staging_dir() as staged:
        (Path(staged) / "sub").mkdir(parents=True)
        (Path(staged) / "sub" / "part.csv").write_bytes(b"x")
        store.commit(prefix, {"output.json": OUTPUT}, staged_dir=staged)
    store.commit(prefix, {"output.json": b"again"})
    assert _all_files(tmp_path) == {
        "sales/clean/ab12/output.json",
        f"sales/clean/ab12/{MARKER_NAME}",
    }

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        store.commit(prefix, {"output.json": b"third"})
    assert _all_files(tmp_path) == {"sales/clean/ab12/output.json"}


def test_local_log_dir_is_inside_the_store(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    prefix = store.prefix("sales", "clean", "ab12")

    assert store.log_dir(prefix, LABEL) == str(tmp_path / "sales/clean/ab12/attempts" / LABEL)


def test_open_artifact_store_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_artifact_store(str(tmp_path)), LocalArtifactStore)
    via_url = open_artifact_store(f"file://{tmp_path}")
    assert isinstance(via_url, LocalArtifactStore)
    prefix = via_url.prefix("p", "t", "k")
    assert via_url.uri(prefix, "output.json") == str(tmp_path / "p/t/k/output.json")
    remote = open_artifact_store(f"memory://headwater-test-{uuid.uuid4().hex}")
    assert isinstance(remote, FsspecArtifactStore)
    remote.close()


def test_local_store_does_not_import_fsspec(tmp_path: Path) -> None:
    # fsspec takes a noticeable time to import; every task run goes through this path.
    code = (
        "import sys; from headwater.artifacts import open_artifact_store;"
        f"s = open_artifact_store({str(tmp_path)!r}); p = s.prefix('p', 't', 'k');"
        "s.commit(p, {'output.json': b'1'}); assert s.is_complete(p);"
        "print('fsspec' in sys.modules)"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "False"


def test_sizes_and_ranges_of_files_and_growing_logs(store: ArtifactStore) -> None:
    prefix = store.prefix("sales", "clean", "ab12")
    store.commit(prefix, {"output.json": OUTPUT})
    log_dir = Path(store.log_dir(prefix, LABEL))  # a local folder's name
    log_dir.mkdir(parents=True)  # by the attempt's first write
    (log_dir / "stdout.log").write_bytes(b"one\n")

    assert store.size(prefix, "output.json") == len(OUTPUT)
    assert store.read_range(prefix, "output.json", 1, 5) == OUTPUT[1:5]
    assert store.log_size(prefix, LABEL, "stdout.log") == 4
    with (log_dir / "stdout.log").open("ab") as log:
        log.write(b"two\n")  # the attempt is still writing
    assert store.log_size(prefix, LABEL, "stdout.log") == 8
    store.publish_logs(prefix, LABEL)
    assert reopen(store).log_size(prefix, LABEL, "stdout.log") == 8
    with pytest.raises(NotFound):
        store.size(prefix, "params.json")
    with pytest.raises(NotFound):
        store.log_size(prefix, LABEL, "stderr.log")
    with pytest.raises(ValueError, match="reserved"):
        store.size(prefix, MARKER_NAME)


def test_presigned_urls_only_where_the_filesystem_signs(tmp_path: Path) -> None:
    memory = FsspecArtifactStore(f"memory://headwater-sign-{uuid.uuid4().hex}")
    prefix = memory.prefix("sales", "clean", "ab12")
    assert memory.presign(prefix, "output.json", 60) is None
    memory.close()


def test_s3_presigned_url_reads_the_file_without_credentials(s3_bucket: str) -> None:
    import httpx

    store = FsspecArtifactStore(s3_bucket + "/artifacts")
    prefix = store.prefix("sales", "clean", "ab12")
    store.commit(prefix, {"output.json": OUTPUT})
    url = store.presign(prefix, "output.json", 60)
    assert url is not None
    assert "Signature" in url or "X-Amz-Signature" in url
    assert httpx.get(url).content == OUTPUT
    store.close()


def test_local_new_key_clash_falls_back_to_replacing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two commits of one new key at once (at-least-once delivery): the one that did not
    create the folder, or met the other's file, replaces atomically instead."""
    store = LocalArtifactStore(tmp_path)
    prefix = store.prefix("sales", "clean", "ab12")
    write_new_file = store._write_new_file

    def other_writer_got_in(prefix: str, name: str, source: bytes | Path) -> None:
        store._write_file(prefix, name, b"theirs")  # as if another commit wrote it first
        write_new_file(prefix, name, source)

    monkeypatch.setattr(store, "_write_new_file", other_writer_got_in)
    store.commit(prefix, {"output.json": OUTPUT, "params.json": PARAMS})

    assert store.is_complete(prefix)
    assert store.read_bytes(prefix, "output.json") == OUTPUT
    assert store.read_bytes(prefix, "params.json") == PARAMS
    assert not [p for p in (tmp_path / prefix).iterdir() if p.name.startswith(TEMP_PREFIX)]
