"""The parse cache: a kept file reads back exactly as parsed; a changed text (whatever its size and mtime), a
damaged entry, one of another format, or one in a folder others could write, is parsed again; the cache
stays bounded and a full disk leaves nothing behind."""

import errno
import os
import stat
import subprocess
import sys
import time

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


# --- the key is the text's content, not the file's stamp ---

CONV = "input: [3, 8, 8]\nlayers:\n  - conv: {name: c1, out: 64, kernel: 3}\n"


def _params(path) -> int:
    import cnncost

    return cnncost.analyze(path).totals.params


def test_an_edit_that_keeps_size_and_mtime_gives_the_new_figures(cache, tmp_path, monkeypatch):
    path = tmp_path / "net.yaml"
    path.write_text(CONV)
    # 3x3 conv from 3 to 64 channels, with bias: 64 * 3 * 3 * 3 + 64
    assert _params(path) == 1792
    before = os.stat(path)
    path.write_text(CONV.replace("out: 64", "out: 16"))  # same size, same inode
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert _params(path) == 16 * 3 * 3 * 3 + 16  # 448, read again in the same process
    _forget_in_memory(monkeypatch)
    assert _params(path) == 448  # and in a new one, through the disk cache


@pytest.fixture
def parses(monkeypatch):
    """How many times the YAML parser ran."""
    calls = []
    real = _yamlparse.load_text

    def counting(text, file=None):
        calls.append(file)
        return real(text, file)

    monkeypatch.setattr(_yamlparse, "load_text", counting)
    return calls


def _entries(folder) -> set:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.mark.parametrize("bump", ["format", "version"])
def test_entries_of_another_format_or_version_are_never_read(cache, tmp_path, monkeypatch, parses, bump):
    from cnncost import version

    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    yamlio.load_file(path)
    (old,) = _entries(cache)
    if bump == "format":
        monkeypatch.setattr(yamlio, "_CACHE_FORMAT", yamlio._CACHE_FORMAT + 1)
    else:
        monkeypatch.setattr(version, "__version__", version.__version__ + ".post1")
    _forget_in_memory(monkeypatch)
    assert yamlio.load_file(path)["params"]["width"] == 4
    assert len(parses) == 2  # parsed again: the old entry is under another name
    (new,) = _entries(cache) - {old}
    # the old entry copied under the new name is refused too: its key says which format it holds
    (cache / new).write_bytes((cache / old).read_bytes())
    _forget_in_memory(monkeypatch)
    assert yamlio.load_file(path)["params"]["width"] == 4
    assert len(parses) == 3


# --- a folder or an entry that someone else could have written is neither read nor written ---


def _kept_then_reloaded(cache, tmp_path, monkeypatch, parses, spoil):
    """Keep a file, spoil the cache's trust, then load it and a new file: was anything read or written?"""
    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    yamlio.load_file(path)
    kept = _entries(cache)
    assert len(kept) == 1 and len(parses) == 1
    spoil()
    _forget_in_memory(monkeypatch)
    assert yamlio.load_file(path)["params"]["width"] == 4
    other = tmp_path / "other.yaml"
    other.write_text(TEXT.replace("width: 4", "width: 5"))
    assert yamlio.load_file(other)["params"]["width"] == 5
    return len(parses) - 1, _entries(cache) - kept


@pytest.mark.parametrize("mode", [0o770, 0o720, 0o702, 0o1777])
def test_a_folder_others_can_write_is_ignored(cache, tmp_path, monkeypatch, parses, mode):
    parsed, written = _kept_then_reloaded(cache, tmp_path, monkeypatch, parses, lambda: os.chmod(cache, mode))
    assert (parsed, written) == (2, set())


def test_a_folder_owned_by_another_user_is_ignored(cache, tmp_path, monkeypatch, parses):
    someone_else = os.getuid() + 1
    parsed, written = _kept_then_reloaded(cache, tmp_path, monkeypatch, parses,
                                          lambda: monkeypatch.setattr(os, "getuid", lambda: someone_else))
    assert (parsed, written) == (2, set())


def test_an_entry_owned_by_another_user_is_ignored(cache, tmp_path, monkeypatch, parses):
    real_fstat = os.fstat

    class Foreign:
        def __init__(self, real):
            self.real = real
            self.st_uid = real.st_uid + 1

        def __getattr__(self, name):
            return getattr(self.real, name)

    def fstat(fd):
        st = real_fstat(fd)
        return Foreign(st) if stat.S_ISREG(st.st_mode) else st  # the folder stays the user's

    parsed, _ = _kept_then_reloaded(cache, tmp_path, monkeypatch, parses,
                                    lambda: monkeypatch.setattr(os, "fstat", fstat))
    assert parsed == 2


def test_a_symlinked_entry_is_ignored(cache, tmp_path, monkeypatch, parses):
    def swap_for_a_symlink():
        (entry,) = cache.iterdir()
        elsewhere = tmp_path / "elsewhere.marshal"
        elsewhere.write_bytes(entry.read_bytes())  # a valid entry: only the link makes it untrusted
        entry.unlink()
        entry.symlink_to(elsewhere)

    parsed, _ = _kept_then_reloaded(cache, tmp_path, monkeypatch, parses, swap_for_a_symlink)
    assert parsed == 2


def test_the_folder_is_private_and_entries_are_0600(tmp_path, monkeypatch):
    folder = tmp_path / "new" / "cache"
    monkeypatch.setenv("CNNCOST_CACHE_DIR", str(folder))
    _forget_in_memory(monkeypatch)
    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    old_umask = os.umask(0)
    try:
        yamlio.load_file(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()] == [0o600]


# --- the cache's size is bounded: the oldest entries go ---


def _keep_one(tmp_path, cache, width: int) -> str:
    """Load a file of the given width and return the name of the entry that appeared for it."""
    before = _entries(cache)
    path = tmp_path / f"net{width}.yaml"
    path.write_text(TEXT.replace("width: 4", f"width: {width}"))
    yamlio.load_file(path)
    (entry,) = _entries(cache) - before
    return entry


@pytest.mark.parametrize("bound", ["bytes", "files"])
def test_the_oldest_entries_are_evicted(cache, tmp_path, monkeypatch, bound):
    first, second = _keep_one(tmp_path, cache, 1), _keep_one(tmp_path, cache, 2)
    size = (cache / first).stat().st_size
    assert (cache / second).stat().st_size == size  # the texts differ in one digit
    now = time.time()
    os.utime(cache / first, (now, now))
    os.utime(cache / second, (now - 100, now - 100))  # the second, written later, is now the oldest
    # a file from an older format counts and goes too; a file that is not an entry is never touched
    (cache / "0123abcd.marshal").write_bytes(b"x" * size)
    os.utime(cache / "0123abcd.marshal", (now - 200, now - 200))
    (cache / "notes.txt").write_text("mine")
    os.utime(cache / "notes.txt", (now - 300, now - 300))
    if bound == "bytes":
        monkeypatch.setattr(yamlio, "CACHE_MAX_BYTES", 2 * size)
    else:
        monkeypatch.setattr(yamlio, "CACHE_MAX_FILES", 2)
    third = _keep_one(tmp_path, cache, 3)
    assert _entries(cache) == {first, third, "notes.txt"}


def test_an_entry_in_use_is_marked_young(cache, tmp_path, monkeypatch):
    first, second = _keep_one(tmp_path, cache, 1), _keep_one(tmp_path, cache, 2)
    now = time.time()
    os.utime(cache / first, (now - 3 * 86400, now - 3 * 86400))
    os.utime(cache / second, (now - 3600, now - 3600))
    _forget_in_memory(monkeypatch)
    assert yamlio.load_file(tmp_path / "net1.yaml")["params"]["width"] == 1  # read from the cache
    assert (cache / first).stat().st_mtime > now - 60
    monkeypatch.setattr(yamlio, "CACHE_MAX_FILES", 2)
    third = _keep_one(tmp_path, cache, 3)
    assert _entries(cache) == {first, third}


# --- a full disk leaves no temporary file behind ---


@pytest.mark.parametrize("failing", ["write", "partial write", "close", "replace"])
def test_a_full_disk_leaves_no_temporary_file(cache, tmp_path, monkeypatch, failing):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    real_open, real_write, real_close = os.open, os.write, os.close
    temporaries, created = set(), []

    def tracking_open(name, flags, *args, **kwargs):
        fd = real_open(name, flags, *args, **kwargs)
        if flags & os.O_CREAT:
            temporaries.add(fd)
            created.append(name)
        return fd

    def write(fd, data):
        if fd in temporaries and (failing == "write" or len(data) < 16):
            raise full
        return real_write(fd, data[:16]) if fd in temporaries else real_write(fd, data)

    def close(fd):
        real_close(fd)
        if fd in temporaries and failing == "close":
            temporaries.discard(fd)
            raise full

    def replace(*args, **kwargs):
        raise full

    cache.mkdir(mode=0o700)
    monkeypatch.setattr(os, "open", tracking_open)
    if failing in ("write", "partial write"):
        monkeypatch.setattr(os, "write", write)
    elif failing == "close":
        monkeypatch.setattr(os, "close", close)
    else:
        monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    assert yamlio.load_file(path)["params"]["width"] == 4
    assert created  # the write was tried
    assert _entries(cache) == set()
    monkeypatch.undo()  # the disk has room again: the next run keeps the file
    monkeypatch.setenv("CNNCOST_CACHE_DIR", str(cache))
    _forget_in_memory(monkeypatch)
    yamlio.load_file(path)
    assert len(_entries(cache)) == 1 and not any(name.endswith(".tmp") for name in _entries(cache))


def test_the_entry_just_written_stays_when_the_clock_went_back(cache, tmp_path, monkeypatch):
    first, second = _keep_one(tmp_path, cache, 1), _keep_one(tmp_path, cache, 2)
    later = time.time() + 3600  # written before the clock was set back an hour: they look younger
    os.utime(cache / first, (later, later))
    os.utime(cache / second, (later + 1, later + 1))
    monkeypatch.setattr(yamlio, "CACHE_MAX_FILES", 2)
    third = _keep_one(tmp_path, cache, 3)
    assert _entries(cache) == {second, third}


def test_without_the_checks_there_is_no_disk_cache(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(yamlio, "_CAN_CHECK", False)  # as on Windows: no os.getuid, no dir_fd
    path = tmp_path / "net.yaml"
    path.write_text(TEXT)
    assert yamlio.load_file(path)["params"]["width"] == 4
    assert not cache.exists()
