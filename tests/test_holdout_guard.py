"""The jailbroken holdout is never used to train or choose anything (../shared/data/README.md).

Only evaluation/holdout.py names the file; nothing under model/ or service/ mentions it; and only
report modules import evaluation.holdout (each reads it after its choices are made, to report)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# modules that report on the holdout: they import evaluation.holdout, and fit or choose nothing on it
REPORTERS = {"evaluation/online_choice.py", "evaluation/context_http.py"}


def sources(*folders: str) -> list[Path]:
    return [p for f in folders for p in sorted((ROOT / f).rglob("*.py"))]


def imports_holdout(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "evaluation.holdout":
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "evaluation" and any(a.name == "holdout" for a in node.names):
            return True
        if isinstance(node, ast.Import) and any(a.name == "evaluation.holdout" for a in node.names):
            return True
    return False


def test_no_training_serving_or_benchmark_code_names_the_holdout():
    for path in sources("model", "service", "bench", "examples", "scripts"):
        text = path.read_text(encoding="utf-8").lower()
        assert "jailbroken" not in text and "holdout" not in text, f"{path.relative_to(ROOT)} names the holdout"


def test_only_evaluation_holdout_names_the_file():
    named = [p.relative_to(ROOT).as_posix() for p in sources("evaluation")
             if "jailbroken_responses" in p.read_text(encoding="utf-8")]
    assert named == ["evaluation/holdout.py"]


def test_only_report_modules_import_the_holdout_reader():
    importers = {p.relative_to(ROOT).as_posix() for p in sources("model", "service", "evaluation", "bench")
                 if imports_holdout(p)}
    assert importers <= REPORTERS, importers - REPORTERS
    assert importers, "the reports should read the holdout through evaluation/holdout.py"


def test_the_guard_sees_an_import(tmp_path):
    fake = tmp_path / "m.py"
    fake.write_text("from evaluation.holdout import holdout_pairs\n")
    assert imports_holdout(fake)
    fake.write_text("from evaluation import holdout\n")
    assert imports_holdout(fake)
