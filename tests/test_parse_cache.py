"""The parse cache: a kept file reads back exactly as parsed, and a changed or damaged one is parsed again."""

import os
import subprocess
import sys

import pytest

from cnncost import _yamlparse, yamlio

TEXT = "input: [3, 8, 8]\nparams: {width: 4}\nlayers:\n  - conv: {name: c1, out: $width, kernel: 3}\n  - relu\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("CNNCOST_CACHE_DIR", str(folder))
    monkeypatch.setattr(yamlio, "_PARSED", {})
    return folder


def _forget_in_memory(monkeypatch):
    monkeypatch.setattr(yamlio, "_PARSED", {})


def _no_parsing(monkeypatch):
    def refuse(text, file=None):
        raise AssertionError("parsed although the file was kept")

    monkeypatch.setattr(_yamlparse, "load_text", refuse)


def test_a_kept_file_reads_back_with_its_lines(cache, tmp_path, monkeypatch):
    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    first = yamlio.load_file(path)
    assert len(list(cache.iterdir())) == 1
    _forget_in_memory(monkeypatch)
    _no_parsing(monkeypatch)
    again = yamlio.load_file(path)
    assert again == first
    layer = again["layers"][0]
    assert isinstance(layer, yamlio.LineDict) and layer.line == 4 and layer.file == str(path)
    assert again.line_of("params") == 2
    assert again["layers"].line == 4


def test_a_changed_file_is_parsed_again(cache, tmp_path, monkeypatch):
    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    yamlio.load_file(path)
    _forget_in_memory(monkeypatch)
    path.write_text(TEXT.replace("width: 4", "width: 16"))
    os.utime(path, ns=(1, 1))  # a different stamp even on a coarse clock
    assert yamlio.load_file(path)["params"]["width"] == 16


def test_a_damaged_cache_file_is_ignored(cache, tmp_path, monkeypatch):
    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    yamlio.load_file(path)
    (kept,) = cache.iterdir()
    kept.write_bytes(b"\x00garbage")
    _forget_in_memory(monkeypatch)
    assert yamlio.load_file(path)["params"]["width"] == 4


def test_an_unwritable_cache_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CNNCOST_CACHE_DIR", str(blocker / "cache"))
    _forget_in_memory(monkeypatch)
    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    assert yamlio.load_file(path)["params"]["width"] == 4


def test_an_empty_cache_dir_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCOST_CACHE_DIR", "")
    assert yamlio.cache_dir() is None


def test_a_second_run_needs_no_yaml_parser(tmp_path):
    env = {**os.environ, "CNNCOST_CACHE_DIR": str(tmp_path / "cache")}
    code = ("import sys\nfrom cnncost.cli import main\n"
            "try:\n    main(['table', 'resnet152', '--format', 'json'])\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(str('yaml' in sys.modules))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env) for _ in range(2)]
    assert [r.stderr for r in runs] == ["True", "False"]
    assert runs[0].stdout == runs[1].stdout


def test_errors_from_a_kept_file_still_name_its_line(tmp_path):
    env = {**os.environ, "CNNCOST_CACHE_DIR": str(tmp_path / "cache")}
    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    for _ in range(2):  # the second run reads the kept document
        result = subprocess.run([sys.executable, "-m", "cnncost", "table", str(path), "--set", "width=0"],
                                capture_output=True, text=True, env=env)
        assert result.returncode == 2 and f"{path}:4" in result.stderr and "layer 'c1'" in result.stderr
