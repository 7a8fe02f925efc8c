"""The docs run: every cnncost command and Python example in README.md and docs/*.md.

Collected from fenced blocks:

- ```sh, ```bash and ```shell blocks: each line that starts with ``cnncost`` (``&&`` chains split, ``#``
  comments dropped) runs, and must not fail (exit 2, or an internal error). Exit 1 is a verdict (budget,
  check), not a failure.
- ```console blocks and bare blocks: each ``$ cnncost ...`` line runs, and what the block shows under it
  must be what the command prints (stdout, then stderr), where the output is deterministic.
- ```python blocks: with ``>>>``, a doctest (ELLIPSIS on); without, the block runs as a script.

Lines that install, benchmark or fuzz (pip, python tools/..., benchmarks/...) are not cnncost examples and are
not collected. A command that cannot run here is listed in NOT_RUN with its reason; it is still parsed
(its options must exist), and an entry that no longer matches any example fails, so none goes stale.
Commands run in this process (click's runner), in a folder holding the files the docs name (FILES).
"""

from __future__ import annotations

import doctest
import glob
import os
import re
import shlex
import shutil
from typing import NamedTuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]

# command (as written, after "cnncost ") -> why it is not run here
NOT_RUN = {
    "validate --all --device cuda": "needs a CUDA GPU; CI has none (the zoo is validated on the CPU by "
                                    "tests/test_validate.py)",
    "calibrate": "measures this machine for up to 30 s; tests/test_latency.py checks calibrate with a short budget",
    "latency resnet18 --device local": "needs 'cnncost calibrate' first (above)",
    "validate resnet50": "tests/test_validate.py validates the whole zoo in torch, ResNet-50 included; CI runs "
                         "a validation once",
    "validate resnet50 --rf": "runs ResNet-50's gradients in torch (minutes on 2 cores); tests/test_rf.py "
                              "validates fields the same way on small networks",
    "table torchvision:resnet50 --input 3x224x224": "needs torchvision, which CI does not install; "
                                                    "tests/test_python_models.py runs the same path with a module "
                                                    "of its own, and torchvision's where it is installed",
    "memory timm:convnext_tiny --input 3x224x224": "needs timm, which CI does not install (as above)",
    "plot --landscape -o zoo.svg": "18 s of label placement; tests/test_plot.py draws the whole landscape once "
                                   "(its labels, markers and docs image checked), test_sweep.py one family of it",
    "table detector.onnx": "the file is built, and this error checked, by tests/test_import.py "
                           "(test_unmappable_operators_are_listed_by_name_with_exit_2)",
    "table cos.onnx": "a hostile file from docs/security.md's list, built by the fuzzer (tools/fuzz.py)",
    "table range.onnx": "a hostile file from docs/security.md's list, built by the fuzzer (tools/fuzz.py)",
    "table wt.onnx": "a hostile file from docs/security.md's list, built by the fuzzer (tools/fuzz.py)",
}

# a Python block containing this text -> why it is compiled but not run here
PYTHON_NOT_RUN = {
    "import cnncost, torchvision": "needs torchvision, which CI does not install; tests/test_import.py checks "
                                   "torchvision's models against figures stored from it, and "
                                   "tests/test_python_models.py the same path with a module of its own",
    "torchvision.models.resnet50(weights=": "downloads torchvision's weights; tests/test_zoo.py checks every "
                                            "key and shape of the zoo's torchvision models",
}

# a network of 314 parameters (conv 8 x 3 x 3 x 3 + 8, linear 8 x 10 + 10): docs/budget.md's models/my_net.yaml
BUDGET_NET = """\
name: my_net
input: [3, 32, 32]
layers:
  - conv: {name: conv1, out: 8, kernel: 3, padding: 1}
  - relu
  - global_avgpool
  - flatten
  - linear: {name: fc, out: 10}
"""


class Example(NamedTuple):
    file: str  # relative to the repository
    line: int
    kind: str  # command, console or python
    text: str  # the command (after "cnncost "), or the Python source
    shown: str | None = None  # what a console block shows under the command


def _blocks(path: str):
    text = open(path, encoding="utf-8").read()
    for match in re.finditer(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", text, re.S | re.M):
        indent, lang, body = match.groups()
        body = "\n".join(line[len(indent):] for line in body.splitlines())
        yield text[:match.start()].count("\n") + 2, lang, body


def _commands(line: str) -> list[str]:
    """The cnncost commands on one shell line: '&&' chains split, comments dropped."""
    words = shlex.split(line, comments=True)
    commands, current = [], []
    for word in words + ["&&"]:
        if word in ("&&", ";", "||"):
            if current and current[0] == "cnncost":
                commands.append(shlex.join(current[1:]))
            current = []
        else:
            current.append(word)
    return commands


def collect() -> list[Example]:
    examples = []
    for path in DOCS:
        name = os.path.relpath(path, ROOT)
        for line, lang, body in _blocks(path):
            lines = body.splitlines()
            if lang == "python":
                examples.append(Example(name, line, "python", body))
            elif lang in ("sh", "bash", "shell"):
                for k, text in enumerate(lines):
                    if text.startswith("cnncost ") or text == "cnncost":
                        for command in _commands(text):
                            examples.append(Example(name, line + k, "command", command))
            elif lang in ("console", ""):
                for k, text in enumerate(lines):
                    if text.startswith("$ cnncost"):
                        shown = []
                        for after in lines[k + 1:]:
                            if after.startswith("$ "):
                                break
                            shown.append(after)
                        for command in _commands(text[2:]):
                            examples.append(Example(name, line + k, "console", command, "\n".join(shown)))
    return examples


EXAMPLES = collect()


def _unique(examples):
    """Each command once (the README and a doc may give the same one); console blocks each, for their output."""
    seen, out = set(), []
    for e in examples:
        if e.kind == "command" and e.text in seen:
            continue
        seen.add(e.text)
        out.append(e)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A folder with the files the examples name (FILES), copied for each test."""
    path = tmp_path_factory.mktemp("docs")
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    my_net = re.search(r"```yaml\n# my_net.yaml\n(.*?)```", readme, re.S).group(1)  # the README's own network
    (path / "my_net.yaml").write_text(my_net)
    (path / "models").mkdir()
    (path / "models" / "my_net.yaml").write_text(BUDGET_NET)
    shutil.copy(os.path.join(ROOT, "architectures", "vgg16.yaml"), path / "my_vgg16.yaml")
    from tests.test_import import _small_net  # builds with the onnx package (the test command installs it)

    small = _small_net(path)  # docs/import.md's worked example: six nodes, 618 parameters
    if os.path.basename(small) != "small.onnx":
        shutil.copy(small, path / "small.onnx")
    shutil.copy(small, path / "model.onnx")
    return path


@pytest.fixture
def folder(files, tmp_path):
    """A fresh copy of the files: an example that writes one (-o my_net.yaml) changes no other's."""
    shutil.copytree(files, tmp_path / "work")
    return tmp_path / "work"


_EVALUATED: dict = {}


def _evaluate_once(evaluate):
    """claims.evaluate, remembered by the claims and files asked about: 'check', 'check --explain' and
    'check --format json' evaluate the same claims and differ in what they print, which is what runs here
    (tests/test_check.py tests the evaluation)."""

    def cached(chosen, **options):
        key = (tuple(repr(c) for c in chosen), repr(sorted(options.items())))
        if key not in _EVALUATED:
            _EVALUATED[key] = evaluate(chosen, **options)
        return _EVALUATED[key]

    return cached


def run_command(command: str, folder) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from cnncost.cli import main

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(main, shlex.split(command))
    finally:
        os.chdir(cwd)
    return result.exit_code, result.stdout, result.stderr


def _id(example: Example) -> str:
    return f"{example.file}:{example.line}:{example.text[:40]}"


def test_examples_were_found():
    kinds = {e.kind for e in EXAMPLES}
    assert kinds == {"command", "console", "python"}
    assert len(EXAMPLES) > 50


def test_every_not_run_entry_is_an_example():
    written = {e.text for e in EXAMPLES}
    assert set(NOT_RUN) <= written, set(NOT_RUN) - written
    for text in PYTHON_NOT_RUN:
        assert any(text in e.text for e in EXAMPLES if e.kind == "python"), text


@pytest.mark.parametrize("example", _unique(e for e in EXAMPLES if e.kind != "python"), ids=_id)
def test_command(example, folder, monkeypatch):
    if example.text in NOT_RUN:
        from cnncost.cli import main

        args = shlex.split(example.text)
        import click

        command = main.commands[args[0]]
        command.make_context(args[0], args[1:], parent=click.Context(main, info_name="cnncost"))  # options exist
        return
    if example.text.startswith("check"):
        from cnncost import claims

        monkeypatch.setattr(claims, "evaluate", _evaluate_once(claims.evaluate))
    code, out, err = run_command(example.text, folder)
    assert code in (0, 1) and "internal error" not in err, (code, err)
    if example.kind == "console" and example.shown is not None:
        # a line '...' in the shown output stands for lines left out, as in a doctest
        checker = doctest.OutputChecker()
        shown, printed = example.shown.rstrip("\n") + "\n", (out + err).rstrip("\n") + "\n"
        assert checker.check_output(shown, printed, doctest.ELLIPSIS), \
            f"{example.file}:{example.line} shows other output:\n{printed}"
    else:
        assert code == 0 or example.text.startswith(("budget", "check")), (code, err)


@pytest.mark.parametrize("file", sorted({e.file for e in EXAMPLES if e.kind == "python"}))
def test_python(file, folder, monkeypatch):
    """A file's Python blocks in order: its doctests share one namespace, as a notebook's cells do."""
    monkeypatch.chdir(folder)
    shared: dict = {"__name__": "__docs__"}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for example in (e for e in EXAMPLES if e.kind == "python" and e.file == file):
        where = f"{example.file}:{example.line}"
        code = compile(example.text.replace(">>> ", "").replace("... ", ""), where, "exec") if ">>>" not in \
            example.text else None
        if any(text in example.text for text in PYTHON_NOT_RUN):
            continue  # compiled above (scripts) or parsed below (doctests): see PYTHON_NOT_RUN
        if ">>>" in example.text:
            test = doctest.DocTestParser().get_doctest(example.text, shared, where, example.file, example.line)
            runner.run(test, clear_globs=False)
            shared.update(test.globs)
            assert runner.failures == 0, f"{where}: a doctest failed (see the output above)"
        else:
            exec(code, {"__name__": "__docs__"})
    prompts = sum(e.text.count(">>> ") for e in EXAMPLES if e.file == file and e.kind == "python"
                  and not any(text in e.text for text in PYTHON_NOT_RUN))
    assert runner.tries == prompts, (runner.tries, prompts)  # every example ran
