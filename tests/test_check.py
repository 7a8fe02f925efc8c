"""The registry of published claims (cnncost/data/claims/) and 'cnncost check'.

Every claim must come out as the registry expects: reproduced, or an erratum
whose correct value is what the network gives. Editing a zoo file so that a
published figure moves must make the check fail.
"""

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from cnncost import claims, zoo
from cnncost.errors import CnnCostError

PUBLISHED = claims.DATA / "published" / "torchvision.yaml"


@pytest.fixture(scope="module")
def registry():
    return claims.load()


@pytest.fixture(scope="module")
def results(registry):
    return claims.evaluate(registry)


def by_id(results):
    return {r.claim.id: r for r in results}


def test_every_claim_is_reproduced_or_explained(results):
    failed = [f"{r.claim.id}: {r.outcome}: {r.problem}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    for r in results:
        if r.claim.expected == "erratum":
            assert r.claim.explanation and r.claim.correct is not None, r.claim.id


def test_every_torchvision_model_has_its_two_claims(registry):
    ids = {c.id for c in registry}
    for model in yaml.safe_load(PUBLISHED.read_text())["models"]:
        assert f"torchvision/{model}/num_params" in ids and f"torchvision/{model}/gflops" in ids, model


def test_the_lecture_figures_are_in_the_registry(results):
    found = by_id(results)
    # the two misprints of section 8.2, as errata with the right figures
    conv1 = found["lecture8/alexnet/conv1-macs-rounded"]
    assert (conv1.claim.printed, conv1.claim.correct, conv1.computed) == ("≈ 78M", 73, 64 * 56 * 56 * 3 * 11 * 11)
    fc6 = found["lecture8/alexnet/fc6-params"]
    assert (fc6.claim.value, fc6.claim.correct, fc6.computed) == (37_725_832, 37_752_832, 9216 * 4096 + 4096)
    # the stem comparison of 8.4.1 and its ratios
    stem_macs = found["lecture8/googlenet-stem/macs"]
    assert stem_macs.outcome == "erratum" and stem_macs.claim.correct == 481
    for figure in ("memory", "params", "macs"):
        assert found[f"lecture8/vgg16-stem/{figure}"].outcome == "erratum"
        assert found[f"lecture8/stem-ratio/{figure}"].outcome == "erratum"
    # 42.9 MB does come out of conv1_1 .. conv3_2 without the pools: the explanation holds
    assert found["lecture8/vgg16-stem/memory"].explained is True
    assert found["lecture8/stem-ratio/memory"].explained is True
    assert found["lecture8/googlenet-stem/memory"].outcome == "reproduces"
    assert found["lecture8/googlenet-stem/params"].outcome == "reproduces"
    # 5x5 against two 3x3: 25C^2 and 18C^2, saving 7/25 = 28%
    assert found["lecture8/small-kernels/params-saving"].computed == 1 - Decimal(18) / Decimal(25)
    assert found["lecture8/small-kernels/macs-two-3x3"].computed == 18 * 64 ** 2 * 56 * 56
    # VGG's balance: conv1_2 .. conv4_2 each 1,849,688,064 MACs; doubling C multiplies a conv by 4
    assert found["lecture8/vgg16/balance-stage1-2"].computed == 1
    assert found["lecture8/doubling-channels/macs-factor"].computed == 4
    assert found["lecture8/resnet152/depth"].computed == 1 + 3 * (3 + 8 + 36 + 3) + 1
    # GAP and one 512 -> 1000 layer against fc6-fc8
    fc_head = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert float(found["lecture8/gap/params-saving"].computed) == pytest.approx(1 - (512 * 1000 + 1000) / fc_head,
                                                                                 rel=1e-12)


# Each paper table's rows and columns that the zoo can answer, as the table lays them out.
PAPER_TABLES = {
    # VGG Table 2: configurations A, B, D and E have zoo files (A-LRN and C do not)
    "vgg/table2/": [f"{c}-params" for c in "ABDE"],
    "resnet/table1/": [f"{depth}-flops" for depth in (18, 34, 50, 101, 152)],
    "googlenet/table1/": [f"{row}-{column}" for row in ("conv1", "conv2", "3a", "3b", "4a", "4b", "4c", "4d", "4e",
                                                        "5a", "5b", "linear") for column in ("ops", "params")],
    "mobilenet_v1/table6/": [f"{alpha}-{column}" for alpha in ("1.0", "0.75", "0.5", "0.25")
                             for column in ("multadds", "params")],
    "mobilenet_v1/table7/": [f"{size}-multadds" for size in (224, 192, 160, 128)] + ["params"],  # one params column
    "resnext/table1/": [f"{net}-{column}" for net in ("resnet50", "resnext50") for column in ("params", "flops")],
    "shufflenet_v1/table1/": [f"g{g}-complexity" for g in (1, 2, 3, 4, 8)],
    "shufflenet_v2/table5/": [f"{scale}-{column}" for scale in ("0.5x", "1x", "1.5x", "2x")
                              for column in ("flops", "weights")],
    # MobileNetV2 Table 4: its own rows, and the MobileNetV1 and ShuffleNet rows it compares with
    "mobilenet_v2/table4/": ["mobilenet_v1-madds", "1.0-madds", "1.0-params", "1.4-madds", "1.4-params",
                             "shufflenet-1.5-madds", "shufflenet-1.5-params", "shufflenet-2-params"],
}


@pytest.mark.parametrize("prefix", PAPER_TABLES)
def test_the_papers_tables_are_in_the_registry(registry, prefix):
    assert {c.id[len(prefix):] for c in registry if c.id.startswith(prefix)} == set(PAPER_TABLES[prefix])


def test_googlenet_table1_ops_every_module(results):
    found = by_id(results)
    modules = ["conv1", "conv2", "3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b", "linear"]
    errata = {m for m in modules if found[f"googlenet/table1/{m}-ops"].outcome == "erratum"}
    # 34M for a 118M layer; 73.6M printed 73M; 5a's ops follow its wrong params column
    assert errata == {"conv1", "4a", "5a"}
    assert found["googlenet/table1/3a-ops"].computed == 163_328 * 28 * 28


def copy_of(model, tmp_path, old, new):
    text = zoo.path_of(model).read_text()
    assert text.count(old) == 1, old
    path = tmp_path / f"{model}.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_an_unchanged_copy_passes(tmp_path, registry):
    path = tmp_path / "vgg16.yaml"
    shutil.copy(zoo.path_of("vgg16"), path)
    results = claims.evaluate(claims.about(registry, ["vgg16"]), model_files={"vgg16": path})
    assert results and all(r.ok for r in results)


def test_a_changed_channel_count_breaks_the_claims_it_moves(tmp_path, registry):
    # conv1_* with 96 filters instead of 64
    path = copy_of("vgg16", tmp_path, "widths: [64, 128,", "widths: [96, 128,")
    results = by_id(claims.evaluate(claims.about(registry, ["vgg16"]), model_files={"vgg16": path}))
    for claim_id in ("torchvision/vgg16/num_params", "torchvision/vgg16/gflops", "lecture8/vgg16/balance-stage1-2"):
        assert not results[claim_id].ok and results[claim_id].outcome == "does not reproduce", claim_id
    # an erratum whose true figure moved: no longer the recorded correct value
    assert results["lecture8/vgg16-stem/params"].outcome == "erratum moved"
    # claims the change does not touch, or not beyond their printed digits, still hold
    assert results["lecture8/vgg16/balance-stage3-4"].ok
    assert results["vgg/table2/D-params"].ok  # 138,441,416: still 138 million


def test_an_erratum_that_starts_to_match_fails(tmp_path, registry):
    # six convs in stage 5 make 2+2+3+3+6 = 16 conv layers: the lecture's "16 convolutional layers"
    path = copy_of("vgg16", tmp_path, "convs: [2, 2, 3, 3, 3]", "convs: [2, 2, 3, 3, 6]")
    result = by_id(claims.evaluate(claims.about(registry, ["vgg16"]), model_files={"vgg16": path}))
    assert result["lecture8/vgg16/conv-layers"].outcome == "erratum now matches"
    assert "the figure moved" in result["lecture8/vgg16/conv-layers"].problem


def test_cli_check_fails_on_a_changed_model_file(tmp_path):
    path = copy_of("alexnet", tmp_path, "{name: conv1, out: 64,", "{name: conv1, out: 60,")
    result = subprocess.run([sys.executable, "-m", "cnncost", "check", "alexnet", "--model-file", f"alexnet={path}"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    # 60*56*56*363 = 68,302,080: neither the printed 78M nor the correct 73M any more
    assert "lecture8/alexnet/conv1-macs-rounded" in result.stdout and "68,302,080" in result.stdout
    assert "FAIL" in result.stdout and "0 failed" not in result.stdout


def test_cli_check_passes_and_speaks_json():
    result = subprocess.run([sys.executable, "-m", "cnncost", "check", "--format", "json"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["summary"]["failed"] == 0
    assert data["summary"]["claims"] == data["summary"]["reproduce"] + data["summary"]["errata"]
    fc6 = next(c for c in data["claims"] if c["id"] == "lecture8/alexnet/fc6-params")
    assert (fc6["printed"], fc6["computed"], fc6["outcome"]) == ("37,725,832", 37_752_832, "erratum")


def test_a_claim_about_a_missing_model_fails_clearly(tmp_path):
    registry = tmp_path / "future.yaml"
    registry.write_text(yaml.safe_dump({"claims": [
        {"id": "x/missing", "source": "a paper", "where": "Table 1", "model": "mobilenet_v9", "quantity": "params",
         "printed": "1.0M", "value": 1.0, "unit": "M", "precision": "1 decimals", "expected": "reproduces"}]}))
    [result] = claims.evaluate(claims.load([registry]))
    assert not result.ok and result.outcome == "error"
    assert "no architecture named 'mobilenet_v9'" in result.problem


GOOD = {"id": "x/ok", "source": "s", "where": "w", "model": "alexnet", "quantity": "params", "printed": "61.1M",
        "value": 61.1, "unit": "M", "precision": "1 decimals", "expected": "reproduces"}


@pytest.mark.parametrize("change, message", [
    ({"quantity": "paramz"}, "unknown quantity 'paramz'"),
    ({"precison": "exact"}, "unknown key 'precison'"),
    ({"expected": "erratum"}, "an erratum needs 'correct'"),
    ({"expected": "erratum", "correct": 61.1}, "an erratum needs 'explanation'"),
    ({"correct": 61.1}, "only an erratum has 'correct'"),
    ({"unit": "MiB"}, "unit 'MiB'"),
    ({"precision": "roughly"}, "precision 'roughly'"),
    ({"form": "ratio"}, "needs 'versus'"),
    ({"network": "nothing"}, "exactly one of 'model'"),
    ({"printed": ""}, "'printed' is required"),
])
def test_malformed_claims_are_errors(tmp_path, change, message):
    registry = tmp_path / "bad.yaml"
    registry.write_text(yaml.safe_dump({"claims": [{**GOOD, **change}]}))
    with pytest.raises(CnnCostError, match=message):
        claims.load([registry])


def test_duplicate_ids_are_errors(tmp_path):
    registry = tmp_path / "twice.yaml"
    registry.write_text(yaml.safe_dump({"claims": [GOOD, GOOD]}))
    with pytest.raises(CnnCostError, match="claim 'x/ok' is already defined"):
        claims.load([registry])


@pytest.mark.parametrize("precision, computed, printed, matches", [
    ("0 decimals", "72.855552", "73", True),
    ("0 decimals", "72.855552", "78", False),
    ("0 decimals", "159.5", "160", True),  # half up
    ("0 decimals", "159.5", "159", False),
    ("1 decimals", "7.46484375", "7.5", True),
    ("2 significant", "1.727962", "1.7", True),
    ("1 significant", "60.965224", "60", True),
    ("3 significant", "15470.26432", "15300", False),
    ("exact", "784", "784", True),
    ("at least", "0.8936", "0.5", True),
    ("at most", "23.834568", "25", True),
    ("at most", "27.161264", "25", False),
])
def test_precision(precision, computed, printed, matches):
    rule = claims.Precision.parse(precision, "test")
    assert rule.matches(Decimal(computed), Decimal(printed)) is matches


def test_table_shows_errata_only_at_the_claims_settings():
    def run(*a):
        return subprocess.run([sys.executable, "-m", "cnncost", "table", *a], capture_output=True, text=True,
                              check=True).stdout

    assert "78M" in run("alexnet")
    # at 224x224 conv1 is 55x55: the lecture's figures are not about this table
    assert "78M" not in run("alexnet", "--input", "3x224x224")
    assert '"34M"' in run("googlenet_paper")


def test_every_erratum_has_its_arithmetic_in_the_docs(registry):
    errata = (Path(__file__).parent.parent / "docs" / "errata.md").read_text()
    missing = [c.id for c in registry if c.expected == "erratum" and f"`{c.id}`" not in errata]
    assert not missing, f"errata without a section in docs/errata.md: {missing}"
