"""Faults in data on disk (issue 10, items 6, 11 and 13): an interrupted or repeated ``lpr synth``,
``lpr stats`` and ``lpr check`` applying one set of rules, symbolic-link loops, unreadable files
and folders, label files that are not UTF-8. Every fault gives one line that names the file and
the problem, never a traceback. Permission errors are simulated when the tests run as root
(root reads any file whatever its mode bits)."""
import builtins
import errno
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lpr_lib import cli, data
from lpr_lib.data import DataError, load_samples, read_image
from lpr_lib.synth import generate

sys.path.insert(0, str(Path(__file__).parent))
from test_data import plate_image, write_images  # noqa: E402  the same synthetic crops

PLATES = ["皖AY766D", "苏E1500Q", "沪A12345", "粤BD12345", "浙B88888"]


@pytest.fixture
def tsv_set(tmp_path):
    folder = tmp_path / "tsv"
    items = [(f"{t}_{i}.jpg", t) for i, t in enumerate(PLATES)]
    write_images(folder, items)
    rows = ["file\tplate\tsource"] + [f"{n}\t{t}\ttest" for n, t in items]
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def named_set(tmp_path):
    folder = tmp_path / "named"
    write_images(folder, [(f"{t}.jpg", t) for t in PLATES])
    return folder


def lpr(capsys, *args):
    """``lpr ARGS`` in this process: (exit status, stdout, stderr); an exception fails the test
    (the command must turn every fault into a message)."""
    rc = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def deny(monkeypatch):
    """``deny(path)``: make a file unreadable, or a folder unlistable. With chmod when the tests
    run as a normal user; as root (which chmod cannot stop), by making ``open``, ``os.listdir``
    and ``os.scandir`` raise ``PermissionError`` for that path, as the kernel would."""
    chmodded, denied = [], set()

    def is_denied(p):
        if isinstance(p, int) or not isinstance(p, (str, bytes, os.PathLike)):
            return False
        p = os.fsdecode(p)
        return os.path.abspath(p) in denied

    def wrap(fn):
        def guarded(p, *a, **kw):
            if is_denied(p):
                raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(p))
            return fn(p, *a, **kw)
        return guarded

    def deny_(path):
        path = Path(path)
        if os.geteuid() != 0:
            chmodded.append((path, path.stat().st_mode))
            path.chmod(0)
            return
        if not denied:
            monkeypatch.setattr(builtins, "open", wrap(builtins.open))
            monkeypatch.setattr(io, "open", wrap(io.open))
            monkeypatch.setattr(os, "listdir", wrap(os.listdir))
            monkeypatch.setattr(os, "scandir", wrap(os.scandir))
        denied.add(os.path.abspath(path))

    yield deny_
    for path, mode in chmodded:
        path.chmod(mode)


# ----------------------------------------------------------------- 6: interrupted or repeated synth

def test_interrupted_generate_leaves_no_folder_that_looks_like_a_dataset(tmp_path, monkeypatch):
    from lpr_lib.synth.generator import PlateGenerator

    real, calls = PlateGenerator.sample_at, []

    def fail_at_five(self, index):
        calls.append(index)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return real(self, index)

    monkeypatch.setattr(PlateGenerator, "sample_at", fail_at_five)
    out = tmp_path / "synth"
    with pytest.raises(KeyboardInterrupt):
        generate(20, out, seed=1, workers=1, progress=False)
    assert not out.exists()  # no half-written folder under the name asked for
    assert list(tmp_path.iterdir()) == []  # and the temporary one was removed


def test_overwrite_with_fewer_plates_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "synth"
    generate(6, out, seed=1, workers=1, progress=False)
    generate(2, out, seed=2, workers=1, progress=False, overwrite=True)
    images = sorted(p.name for p in out.glob("*.jpg"))
    assert len(images) == 2, images  # no stale image of the first run beside the new ones
    listed = [line.split()[0] for line in (out / "labels.txt").read_text("utf-8").splitlines()]
    assert sorted(listed) == images
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]  # no temporary left
    assert data.check_dataset(out).ok


def test_overwrite_never_deletes_a_folder_with_other_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"mine.*not empty"):
        generate(2, out, seed=1, workers=1, progress=False)
    with pytest.raises(FileExistsError, match=r"notes.txt.*not replaced"):
        generate(2, out, seed=1, workers=1, progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and not list(out.glob("*.jpg"))


def _proc_stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = _proc_stat(int(d.name))
            if st and int(st[1]) == pid:
                kids.append(int(d.name))
    return kids


def _running(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")  # a zombie writes nothing


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killed_synth_stops_its_workers_and_check_refuses_the_leftover(tmp_path, capsys):
    from lpr_lib.data.formats import INCOMPLETE_MARKER, PARTIAL_MARK

    out = tmp_path / "synth"
    log = open(tmp_path / "synth.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "lpr_lib", "synth", "--count", "5000",
                             "--out", str(out), "--workers", "2", "--seed", "3"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        workers: list[int] = []
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "synth.log").read_text()
            workers = _children(proc.pid)
            if len(workers) >= 2 and len(list(tmp_path.rglob("*.jpg"))) >= 20:
                break
            time.sleep(0.05)
        else:
            pytest.fail("lpr synth wrote no images in 180 s")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        at_kill = len(list(tmp_path.rglob("*.jpg")))
        deadline = time.monotonic() + 60
        while any(_running(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = [w for w in workers if _running(w)]
        after = len(list(tmp_path.rglob("*.jpg")))
    finally:
        if proc.poll() is None:
            proc.kill()
        for w in _children(proc.pid) + workers:
            if _running(w):
                os.kill(w, signal.SIGKILL)
        log.close()
    assert not alive, "workers outlived the killed lpr synth"
    # each worker stops at its next plate (a killed parent used to leave them rendering on to
    # the end of their chunk of up to 256 plates)
    assert after - at_kill <= 8, f"{after - at_kill} images were written after the kill"
    assert after < 5000

    # the folder asked for does not exist; the temporary one is marked and named as such
    assert not out.exists()
    partial = tmp_path / f"synth{PARTIAL_MARK}{proc.pid}"
    assert (partial / INCOMPLETE_MARKER).is_file()
    rc, _, err = lpr(capsys, "check", out)
    assert rc != 0 and str(partial) in err and "unfinished" in err
    rc, text, _ = lpr(capsys, "check", partial)
    assert rc == 1 and "incomplete" in text and str(partial) in text and "NOT USABLE" in text
    assert "can be used for training" not in text
    with pytest.raises(DataError, match="incomplete"):
        load_samples(partial)

    # the next run renders afresh and deletes the dead run's leftover
    generate(3, out, seed=3, workers=1, progress=False)
    assert not partial.exists() and data.check_dataset(out).ok


def test_check_refuses_incomplete_folders(tmp_path, capsys):
    out = tmp_path / "synth"
    generate(4, out, seed=5, workers=1, progress=False)
    rc, text, _ = lpr(capsys, "check", out)
    assert rc == 0 and "can be used for training" in text

    # an image of the folder that its labels.txt does not list (a stale or foreign image)
    stale = out / "皖A00000_999999.jpg"
    plate_image("皖A00000").save(stale, "JPEG")
    rc, text, _ = lpr(capsys, "check", out)
    assert rc == 1 and "incomplete" in text and stale.name in text and "NOT USABLE" in text
    stale.unlink()

    # labels that list an image that is missing
    victim = sorted(out.glob("*.jpg"))[0]
    victim.unlink()
    rc, text, _ = lpr(capsys, "check", out)
    assert rc == 1 and "missing-file" in text and victim.name in text

    # a temporary folder of an interrupted run (renamed by hand, marker gone) is no dataset
    generate(3, tmp_path / "other", seed=6, workers=1, progress=False)
    leftover = tmp_path / "other.tmp-4242"
    (tmp_path / "other").rename(leftover)
    rc, text, _ = lpr(capsys, "check", leftover)
    assert rc == 1 and "incomplete" in text and "temporary folder" in text


# ----------------------------------------------------------------- 11: stats and check agree

def test_stats_counts_what_check_accepts_and_reports_the_rest(tsv_set, capsys):
    path = tsv_set / "labels.tsv"
    rows = path.read_text(encoding="utf-8").splitlines()
    rows[1] = rows[1].replace("\t皖AY766D\t", "\t皖AY766\t")  # 6 characters
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    junk = tsv_set / f"{PLATES[2]}_2.jpg"
    junk.write_bytes(b"this is not an image")

    report = data.check_dataset(tsv_set)
    assert not report.ok and len(report.samples) == 3
    rc, text, _ = lpr(capsys, "check", tsv_set)
    assert rc == 1 and "wrong-length" in text and junk.name in text

    rc, text, err = lpr(capsys, "stats", tsv_set)
    assert rc == 0
    assert text.startswith("3 plates") and "lengths {7: 2, 8: 1}" in text
    assert "wrong-length" in err and "labels.tsv:2" in err
    assert "unreadable-image" in err and junk.name in err and "not counted" in err
    rc, text, _ = lpr(capsys, "stats", tsv_set, "--json")
    import json

    info = json.loads(text)
    assert info["plates"] == 3 and len(info["not_counted"]) == 2


def test_symlink_loops_are_reported_with_their_path(named_set, tmp_path, capsys):
    loop = named_set / "loop.jpg"
    loop.symlink_to(loop.name)  # points at itself
    sub = named_set / "sub"
    sub.symlink_to(sub.name)
    report = data.check_dataset(named_set)
    where = {p.file: p.message for p in report.errors}
    assert "symbolic-link loop" in where[str(loop)] and "symbolic-link loop" in where[str(sub)]
    assert len(report.samples) == len(PLATES)
    rc, text, _ = lpr(capsys, "check", named_set)
    assert rc == 1 and str(loop) in text
    rc, text, err = lpr(capsys, "stats", named_set)
    assert rc == 0 and text.startswith(f"{len(PLATES)} plates") and str(loop) in err
    with pytest.raises(DataError, match="loop.jpg.*symbolic-link loop"):
        load_samples(named_set)

    # the dataset path itself a loop: said so, not "no such file"
    (tmp_path / "circle").symlink_to("circle")
    rc, text, err = lpr(capsys, "check", tmp_path / "circle")
    assert rc != 0 and "circle" in text + err and "symbolic-link loop" in text + err


# ----------------------------------------------------------------- 13: unreadable files, encodings

def test_permission_denied_image(tsv_set, deny, capsys):
    image = tsv_set / f"{PLATES[1]}_1.jpg"
    deny(image)
    report = data.check_dataset(tsv_set)
    assert [(p.kind, p.file, p.message) for p in report.errors] == [
        ("unreadable-image", str(image), "permission denied")]
    rc, text, err = lpr(capsys, "check", tsv_set)
    assert rc == 1 and f"{image}: unreadable-image: permission denied" in text
    rc, text, err = lpr(capsys, "stats", tsv_set)
    assert rc == 0 and text.startswith("4 plates") and str(image) in err
    samples = load_samples(tsv_set)
    with pytest.raises(DataError, match=f"{image.name}.*permission denied"):
        read_image(samples[1])
    with pytest.raises(DataError, match=f"{image.name}.*permission denied"):
        data.make_dataset(tsv_set)  # training refuses before it starts, naming the file


def test_permission_denied_labels_file(tsv_set, deny, capsys):
    labels = tsv_set / "labels.tsv"
    deny(labels)
    with pytest.raises(DataError, match=r"labels.tsv: unreadable-file: permission denied"):
        load_samples(tsv_set)
    for command in ("check", "stats"):
        rc, text, err = lpr(capsys, command, tsv_set)
        assert rc == 1 and f"{labels}: unreadable-file: permission denied" in text + err


def test_permission_denied_folder(named_set, deny, capsys):
    deny(named_set)
    with pytest.raises(DataError, match=f"{named_set.name}.*permission denied"):
        load_samples(named_set)
    for command in ("check", "stats"):
        rc, text, err = lpr(capsys, command, named_set)
        assert rc == 1 and str(named_set) in text + err and "permission denied" in text + err


def test_label_file_in_gbk_names_file_byte_and_fix(tsv_set, capsys):
    path = tsv_set / "labels.tsv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))
    raw = path.read_bytes()
    first_bad = len("file\tplate\tsource\n")  # the first byte of 皖, in GBK
    assert raw[:first_bad].isascii() and raw[first_bad] >= 0x80
    with pytest.raises(DataError, match=rf"labels.tsv:2: bad-encoding: not UTF-8 \(byte "
                                        rf"0x{raw[first_bad]:02x} at offset {first_bad}"):
        load_samples(tsv_set)
    report = data.check_dataset(tsv_set)
    assert [p.kind for p in report.errors] == ["bad-encoding"]
    assert "save it as UTF-8" in report.errors[0].message
    assert "GBK" in report.errors[0].message
    # the seed's label file too
    txt = tsv_set / "labels.txt"
    txt.write_bytes("皖.jpg 0 1 2 3 4 5 6\n".encode("gbk"))
    with pytest.raises(DataError, match=r"labels.txt:1: bad-encoding: not UTF-8 \(byte 0x"):
        data.read_label_file(txt)
    # the command: one line naming the file, no traceback
    result = subprocess.run([sys.executable, "-m", "lpr_lib", "check", str(tsv_set)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{path}:2: bad-encoding: not UTF-8" in result.stdout


def test_image_errors_name_the_file_not_a_bytesio(tsv_set):
    junk = tsv_set / f"{PLATES[0]}_0.jpg"
    junk.write_bytes(b"this is not an image")
    report = data.check_dataset(tsv_set)
    (problem,) = report.errors
    assert problem.file == str(junk) and "BytesIO" not in str(problem)
    assert "not a JPEG, PNG, BMP or GIF" in problem.message
    with pytest.raises(DataError) as err:
        read_image(load_samples(tsv_set)[0])
    assert junk.name in str(err.value) and "BytesIO" not in str(err.value)
