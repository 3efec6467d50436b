"""`gemini-tuning doctor` on hand-made backends laid out as the engine lays them out (the engine
tests in tests/engine/test_killed_up.py run it on real ones), and the one backend URL."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gemini_tuning._state import backend_directory, local_backend_url
from gemini_tuning.cli import main

REPO = Path(__file__).resolve().parents[2]
STACK = "organization/gt/dev"


def _checkpoint(serial: int) -> dict[str, object]:
    latest = {"manifest": {"time": f"serial-{serial}"}, "resources": [{"urn": f"urn:{serial}"}]}
    return {"version": 3, "checkpoint": {"stack": STACK, "latest": latest}}


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _backend(root: Path) -> Path:
    """Two finished updates' worth of files, with sidecars (the old way)."""
    pulumi = root / ".pulumi"
    _write(pulumi / "meta.yaml", "version: 1\n")
    _write(pulumi / "meta.yaml.attrs", '{"user.content_type":"text/plain"}\n')
    _write(pulumi / "stacks/gt/dev.json", json.dumps(_checkpoint(2)))
    _write(pulumi / "stacks/gt/dev.json.attrs", '{"user.content_type":"application/json"}\n')
    _write(pulumi / "stacks/gt/dev.json.bak", json.dumps(_checkpoint(1)))
    for serial, ns in ((1, 1764600000000000001), (2, 1764600000000000002)):
        _write(pulumi / f"backups/gt/dev/dev.{ns}.json", json.dumps(_checkpoint(serial)))
        _write(pulumi / f"backups/gt/dev/dev.{ns}.json.attrs", "{}\n")
    return root


def _doctor(root: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["doctor", "--backend", local_backend_url(root), *args])
    return code, capsys.readouterr().out


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_a_clean_backend_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _doctor(_backend(tmp_path), capsys=capsys)
    assert code == 0
    assert "ok: no problems (1 state file(s) and 4 sidecar(s) checked)" in out


def test_an_empty_sidecar_is_named_and_moved_aside_only_on_repair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _backend(tmp_path)
    sidecar = root / ".pulumi/stacks/gt/dev.json.attrs"
    sidecar.write_bytes(b"")
    before = _files(root)
    code, out = _doctor(root, capsys=capsys)
    assert code == 1
    assert f"PROBLEM: {sidecar}: sidecar file is empty (0 bytes)" in out
    assert f"every command on stack {STACK} fails (`failed to load checkpoint: EOF`)" in out
    assert f"mv {sidecar} {sidecar}.broken-" in out
    assert _files(root) == before  # checking changes nothing

    code, out = _doctor(root, "--repair", capsys=capsys)
    assert code == 0, out
    assert "repaired: moved aside to" in out
    assert not sidecar.exists()
    (aside,) = sidecar.parent.glob("dev.json.attrs.broken-*")
    assert aside.read_bytes() == b""
    assert len(_files(root)) == len(before)  # moved, not deleted
    assert _doctor(root, capsys=capsys)[0] == 0


def test_cut_sidecars_of_history_and_copies_are_problems_and_an_orphan_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _backend(tmp_path)
    history = root / ".pulumi/history/gt/dev/dev-1764600000000000002.history.json"
    _write(history, "{}")
    _write(history.with_name(history.name + ".attrs"), '{"user.content_type": "appl')
    _write(root / ".pulumi/stacks/gt/dev.json.1a2b.tmp.attrs", "")  # its object never landed
    (root / ".pulumi/stacks/gt/dev.json.bak.attrs").write_bytes(b"")
    code, out = _doctor(root, capsys=capsys)
    assert code == 1
    assert "sidecar file is not valid JSON" in out
    assert f"`pulumi stack history` of {STACK} fails" in out
    assert "the engine cannot read this copy of the state (it reads none in normal use)" in out
    assert out.count("PROBLEM:") == 2


def test_a_cut_state_file_points_at_the_newest_good_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _backend(tmp_path)
    state = root / ".pulumi/stacks/gt/dev.json"
    state.write_text(json.dumps(_checkpoint(3))[:40])
    damaged = _write(root / ".pulumi/backups/gt/dev/dev.1764600000000000003.json", "{")
    good = root / ".pulumi/backups/gt/dev/dev.1764600000000000002.json"
    code, out = _doctor(root, capsys=capsys)
    assert code == 1
    assert f"PROBLEM: {state}: state file is not valid JSON, cut short or damaged" in out
    assert f"newest good copy: {good}" in out
    assert str(damaged) not in out
    assert f"gemini-tuning doctor --print-deployment {good} > dev.deployment.json" in out
    assert f"pulumi stack import --stack {STACK} --file dev.deployment.json" in out

    code, out = _doctor(root, "--print-deployment", str(good), capsys=capsys)
    assert code == 0
    assert json.loads(out) == {"version": 3, "deployment": _checkpoint(2)["checkpoint"]["latest"]}  # type: ignore[index]


def test_an_empty_state_file_without_backups_has_no_made_up_recovery(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _backend(tmp_path)
    (root / ".pulumi/stacks/gt/dev.json").write_bytes(b"")
    for copy in (root / ".pulumi/backups/gt/dev").iterdir():
        copy.rename(tmp_path / copy.name)
    code, out = _doctor(root, "--repair", capsys=capsys)
    assert code == 1  # nothing to repair it from: still a problem
    assert "state file is empty (0 bytes)" in out
    assert "no good copy under" in out
    assert (root / ".pulumi/stacks/gt/dev.json").exists()


def test_a_left_lock_is_a_note_with_its_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _backend(tmp_path)
    lock = {"pid": 4242, "username": "u", "hostname": "h", "timestamp": "2026-12-01T21:00:00Z"}
    _write(root / ".pulumi/locks/organization/gt/dev/abc.json", json.dumps(lock))
    code, out = _doctor(root, capsys=capsys)
    assert code == 0
    assert f"note: stack {STACK} is locked by pid 4242 on h" in out
    assert f"`pulumi cancel --stack {STACK} --yes`" in out


def test_json_output_for_scripts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _backend(tmp_path)
    (root / ".pulumi/meta.yaml.attrs").write_bytes(b"")
    code, out = _doctor(root, "--json", capsys=capsys)
    report = json.loads(out)
    assert code == 1
    assert report["ok"] is False
    (finding,) = report["findings"]
    assert finding["file"] == str(root / ".pulumi/meta.yaml.attrs")
    assert finding["effect"] == "every command on this backend fails"


def test_no_local_backend_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", "gs://some-bucket")
    assert main(["doctor"]) == 2
    assert "no local backend to check (backend: gs://some-bucket)" in capsys.readouterr().err


def test_backend_urls_resolve_to_their_directory(tmp_path: Path) -> None:
    url = local_backend_url(tmp_path / "state")
    assert url == f"file://{tmp_path}/state?metadata=skip"
    assert backend_directory(url) == tmp_path / "state"
    assert backend_directory("file://~/x") == Path.home() / "x"
    assert backend_directory("s3://bucket") is None


def _url_from_env_sh(root: Path, exported: str | None) -> str:
    """PULUMI_BACKEND_URL after sourcing a copy of env.sh in a checkout at ``root``."""
    script = root / "provider/tools/env.sh"
    if not script.exists():
        _write(script, (REPO / "provider/tools/env.sh").read_text())
    env = {k: v for k, v in os.environ.items() if k != "PULUMI_BACKEND_URL"}
    if exported is not None:
        env["PULUMI_BACKEND_URL"] = exported
    done = subprocess.run(
        ["bash", "-c", f'source "{script}" && printf %s "$PULUMI_BACKEND_URL"'],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_env_sh_sets_the_url_the_package_makes(tmp_path: Path) -> None:
    """env.sh is bash, so it repeats the URL; it must be the one local_backend_url makes."""
    ours = local_backend_url(tmp_path / ".state" / "backend")
    assert _url_from_env_sh(tmp_path, None) == ours
    assert _url_from_env_sh(tmp_path, "") == ours
    # A shell that sourced the old env.sh is moved to the new URL; any other choice is kept.
    assert _url_from_env_sh(tmp_path, f"file://{tmp_path}/.state/backend") == ours
    assert _url_from_env_sh(tmp_path, "file:///elsewhere") == "file:///elsewhere"


def test_a_failed_import_leaves_the_problem_unrepaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _backend(tmp_path)
    state = root / ".pulumi/stacks/gt/dev.json"
    state.write_text("{")
    monkeypatch.setenv("PATH", str(tmp_path / "no-pulumi-here"))
    code, out = _doctor(root, "--repair", capsys=capsys)
    assert code == 1
    assert "note: could not run `pulumi stack import`" in out
    assert state.read_text() == "{"  # left as it was (and a copy kept beside it)
    assert len(list(state.parent.glob("dev.json.broken-*"))) == 1


def test_a_backend_opened_without_metadata_skip_gets_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _backend(tmp_path)
    assert main(["doctor", "--backend", root.as_uri()]) == 0
    out = capsys.readouterr().out
    assert "without metadata=skip, so a killed command can leave a sidecar empty again" in out
    assert f"`pulumi login {local_backend_url(root)}` (provider/tools/env.sh sets it)" in out
    _, out = _doctor(root, capsys=capsys)
    assert "without metadata=skip" not in out


def test_in_a_teams_repository_the_advice_names_no_file_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _backend(tmp_path)
    monkeypatch.chdir(tmp_path)  # a project made by `gemini-tuning init`: no provider/tools
    assert main(["doctor", "--backend", root.as_uri()]) == 0
    out = capsys.readouterr().out
    assert f"`pulumi login {local_backend_url(root)}`" in out
    assert "env.sh" not in out
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    assert main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert "set PULUMI_BACKEND_URL or pass --backend file://DIR" in err
