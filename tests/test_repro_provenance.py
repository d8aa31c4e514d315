"""A results file names the command and the commit that made it, and refuses uncommitted code
unless told so explicitly (lpr_lib.repro.write_result)."""
import json
import subprocess
import sys

import pytest

from lpr_lib import repro


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git checkout of one committed file, with ``results/`` inside it, as the repository."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "t@example.org")
    _git(root, "config", "user.name", "t")
    (root / "code.py").write_text("x = 1\n")
    (root / "results").mkdir()
    (root / "results" / "old.json").write_text("{}\n")
    _git(root, "add", "code.py", "results/old.json")
    _git(root, "commit", "-q", "-m", "one")
    monkeypatch.setattr(repro, "REPO_ROOT", root)
    monkeypatch.setattr(repro, "RESULTS_DIR", root / "results")
    monkeypatch.delenv(repro.ALLOW_DIRTY_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", [str(root / "experiments" / "study.py"), "--fast"])
    return root


def _meta(path):
    return json.loads(path.read_text(encoding="utf-8"))["meta"]


def test_a_clean_tree_records_the_command_and_the_commit(repo):
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                         text=True).stdout.strip()
    meta = _meta(repro.write_result("probe", {"acc": 0.5}))
    assert meta["command"] == ["experiments/study.py", "--fast"]
    assert meta["git_commit"] == sha and meta["dirty"] is False
    assert "dirty_files" not in meta


def test_a_dirty_tree_is_refused_for_results(repo):
    (repo / "code.py").write_text("x = 2\n")
    with pytest.raises(repro.DirtyTreeError, match="code.py.*LPR_ALLOW_DIRTY"):
        repro.write_result("probe", {"acc": 0.5})
    assert not (repo / "results" / "probe.json").exists()


def test_a_long_study_can_refuse_a_dirty_tree_before_it_starts(repo, monkeypatch):
    """check_clean is write_result's own check, callable before hours of training."""
    assert repro.check_clean("probe") == []
    (repo / "code.py").write_text("x = 2\n")
    with pytest.raises(repro.DirtyTreeError, match="probe.json.*code.py"):
        repro.check_clean("probe")
    assert repro.check_clean("probe", allow_dirty=True) == ["code.py"]
    monkeypatch.setenv(repro.ALLOW_DIRTY_ENV, "1")
    assert repro.check_clean("probe") == ["code.py"]


def test_a_dirty_tree_is_written_when_allowed_and_says_so(repo, monkeypatch):
    (repo / "code.py").write_text("x = 2\n")
    meta = _meta(repro.write_result("probe", {"acc": 0.5}, allow_dirty=True))
    assert meta["dirty"] is True and meta["dirty_files"] == ["code.py"]
    assert meta["git_commit"].endswith("-dirty")
    monkeypatch.setenv(repro.ALLOW_DIRTY_ENV, "1")
    assert _meta(repro.write_result("probe2", {"acc": 0.5}))["dirty"] is True


def test_changed_results_do_not_make_the_tree_dirty(repo):
    """Writing results is what a run does: a changed results file is not changed code."""
    (repo / "results" / "old.json").write_text('{"new": 1}\n')
    assert repro.git_dirty() == []
    assert _meta(repro.write_result("probe", {"acc": 0.5}))["dirty"] is False


def test_other_folders_are_written_whatever_the_tree(repo, tmp_path):
    (repo / "code.py").write_text("x = 2\n")
    path = repro.write_result("result", {"acc": 0.5}, directory=tmp_path / "runs" / "a")
    assert _meta(path)["command"][0] == "experiments/study.py"


def test_the_recorded_command_holds_no_path_of_this_machine(monkeypatch):
    """A results file records its command without the machine's folders: paths inside the
    repository or beside it (../shared) relative to the repository; others as typed."""
    from lpr_lib import repro

    root = repro.REPO_ROOT
    monkeypatch.setattr(sys, "argv", [str(root / "experiments" / "x.py"), "--sets",
                                      str(root / "runs" / "val_sets"),
                                      f"--real={root.parent / 'shared' / 'real_plates'}",
                                      "plain", "/elsewhere/file"])
    assert repro.command_line() == ["experiments/x.py", "--sets", "runs/val_sets",
                                    "--real=../shared/real_plates", "plain", "/elsewhere/file"]


def test_a_results_file_names_no_folder_of_the_machine(tmp_path):
    """Paths a result holds (a run folder, a model file) are written relative to the
    repository; other strings are left as they are."""
    from lpr_lib import repro

    root = repro.REPO_ROOT
    data = {"run": str(root / "runs" / "a"), "sets": [str(root.parent / "shared" / "x")],
            "note": f"made in {root}", "plain": "runs/b", "n": 3}
    path = repro.write_result("portable", data, directory=tmp_path)
    written = json.loads(path.read_text(encoding="utf-8"))["result"]
    assert written == {"run": "runs/a", "sets": ["../shared/x"], "note": f"made in {root}",
                       "plain": "runs/b", "n": 3}


#: Committed results files that do not yet name a command and a clean commit, each waiting for
#: a run that remakes it from a committed command. The list may only shrink: a file fixed and
#: still listed fails, so does a new file without its provenance.
NOT_YET_REMADE = {"prune_study.json"}


def _provenance_gaps(path) -> list[str]:
    meta = json.loads(path.read_text(encoding="utf-8")).get("meta") or {}
    gaps = [] if meta.get("command") else ["no command"]
    commit = str(meta.get("git_commit") or "")
    if len(commit) != 40 or meta.get("dirty") not in (False, None):
        gaps.append(f"commit {commit or 'missing'}")
    return gaps


def test_every_results_file_names_its_command_and_a_clean_commit():
    tracked = subprocess.run(["git", "ls-files", "results/*.json"], cwd=repro.REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout: no committed results to read")
    gaps = {}
    for name in tracked:
        found = _provenance_gaps(repro.REPO_ROOT / name)
        if found:
            gaps[name.removeprefix("results/")] = found
    unexpected = {k: v for k, v in gaps.items() if k not in NOT_YET_REMADE}
    assert not unexpected, f"results files without their provenance: {unexpected}"
    remade = sorted(NOT_YET_REMADE - set(gaps))
    assert not remade, f"remade (or removed), take them off NOT_YET_REMADE: {remade}"


def test_record_commands_tells_an_ablation_job_from_its_config_name():
    sys.path.insert(0, str(repro.REPO_ROOT / "tools"))
    from record_commands import command_for

    command, needs, source = command_for(
        "ablation/short/mixed/v4.1-seed3031.json",
        {"config": {"name": "ablation-book-mixed-v4.1-seed3031"}})
    assert command == ["lpr_lib/__main__.py", "ablate", "--scale", "book", "--data", "mixed",
                       "--seeds", "3031", "--rows", "v4.1"]
    assert ("configs/ablation/scale_book.yaml", "") in needs
    assert "ablation-book-mixed-v4.1-seed3031" in source
    assert command_for("ablation/short/mixed/x.json", {"config": {"name": "other"}}) is None
    assert command_for("prune_study.json", {}) is None
