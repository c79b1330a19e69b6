"""The three packages depend one way: model/ imports neither service/ nor evaluation/, service/
never imports evaluation/, and neither model/ nor service/ needs matplotlib (an optional extra of
the evaluation package). Every module of both packages is imported in a fresh interpreter in
which importing matplotlib or evaluation fails."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from model.paths import REPO_ROOT

BLOCKER = """
import importlib.abc, importlib.util, pkgutil, sys
BLOCKED = {"matplotlib", "evaluation"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked import: {name}")
        return None
sys.meta_path.insert(0, Block())
import model, service
names = []
for package in (model, service):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
print(len(names))
"""


def test_model_and_service_import_without_matplotlib_or_evaluation():
    done = subprocess.run(
        [sys.executable, "-c", "import importlib\n" + BLOCKER], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 40  # every module of both packages was imported


def imported_packages(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"), [("model", {"service", "evaluation", "matplotlib"}), ("service", {"evaluation", "matplotlib"})]
)
def test_no_import_runs_against_the_dependency_direction(package: str, forbidden: set[str]):
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(imported_packages(path) & forbidden)
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if imported_packages(path) & forbidden
    }
    assert offenders == {}


# ---- inside service/: layers, imports downward only -------------------------------------------
# service/<layer>/...: each layer a subpackage with one concern; the root holds the composition only.
LAYER_RANK = {"core": 0, "state": 1, "inference": 2, "api": 3, "ops": 3}
ROOT_MODULES = {"service.app", "service.__main__"}  # the composition: may import every layer
SERVICE = REPO_ROOT / "service"


def service_module(path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    """The room a module lives in: its layer package (service.<layer>), or itself at the root."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYER_RANK) else module


def rank_of(module: str) -> int:
    room = room_of(module)
    return len(LAYER_RANK) if room in ROOT_MODULES else LAYER_RANK.get(room.split(".")[-1], -1)


def annotation_only(tree: ast.AST) -> set[int]:
    """The nodes under ``if TYPE_CHECKING:``: imports for annotations, never run."""
    return {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for stmt in node.body for inner in ast.walk(stmt)}


def service_imports(path, run_time_only: bool = False) -> set[str]:
    """The service modules a file imports (``from service.x import y`` -> service.x.y when y is a module);
    ``run_time_only`` leaves out the imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = annotation_only(tree) if run_time_only else set()
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("service."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("service"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (REPO_ROOT / (sub.replace(".", "/") + ".py")).exists() or (
                    REPO_ROOT / sub.replace(".", "/") / "__init__.py").exists()
                found.add(sub if is_module else node.module)
    return found


def service_graph(run_time_only: bool = False) -> dict[str, set[str]]:
    return {service_module(p): service_imports(p, run_time_only) for p in sorted(SERVICE.rglob("*.py"))}


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import chain (modules, first to last); a package's ``__init__`` is not a step."""
    memo: dict[str, list[str]] = {}

    def chain(module: str, seen: tuple[str, ...]) -> list[str]:
        if module in seen:
            raise AssertionError(f"import cycle: {' -> '.join(seen + (module,))}")
        if module not in memo:
            below = [chain(t, seen + (module,)) for t in graph.get(module, ()) if t in graph and t != module]
            memo[module] = [module] + max(below, key=len, default=[])
        return memo[module]

    return max((chain(m, ()) for m in graph), key=len)


def breaches(graph: dict[str, set[str]]) -> list[str]:
    """Imports against the direction: into a layer of the same or a higher rank (another room), or api <-> ops."""
    return sorted(f"{m} -> {t}" for m, imports in graph.items() for t in imports
                  if room_of(t) != room_of(m) and room_of(t) != "service" and rank_of(t) >= rank_of(m)
                  and not (room_of(m) in ROOT_MODULES and room_of(t) in ROOT_MODULES))


def test_the_service_root_holds_only_the_composition():
    assert sorted(p.name for p in SERVICE.glob("*.py")) == ["__init__.py", "__main__.py", "app.py"]
    layers = {p.name for p in SERVICE.iterdir() if (p / "__init__.py").exists()}
    assert layers == set(LAYER_RANK)


def test_service_layers_import_downward_only():
    assert breaches(service_graph()) == []


def test_an_import_against_the_layers_is_caught():
    graph = service_graph()
    graph["service.state.user_store"] = graph["service.state.user_store"] | {"service.inference.engine"}
    graph["service.api.deps"] = graph["service.api.deps"] | {"service.ops.migrate_users"}
    assert breaches(graph) == ["service.api.deps -> service.ops.migrate_users",
                               "service.state.user_store -> service.inference.engine"]


def test_the_service_layer_graph_is_at_most_six_levels_deep():
    """Rooms: the layers and the two root modules; levels: the longest chain of rooms importing rooms."""
    rooms: dict[str, set[str]] = {}
    for module, imports in service_graph().items():
        rooms.setdefault(room_of(module), set()).update(room_of(t) for t in imports if room_of(t) != room_of(module))
    rooms.pop("service", None)

    def levels(room: str) -> int:
        return 1 + max((levels(t) for t in rooms.get(room, ()) if t in rooms), default=0)

    assert max(levels(r) for r in rooms) <= 6


def test_the_service_module_graph_is_at_most_six_modules_deep():
    """Module by module, what Python runs: no import chain inside service/ longer than six modules
    (``__main__ -> app -> routes.feedback -> deps -> auth -> core.errors``). Imports under
    ``if TYPE_CHECKING:`` (annotations) are not run and do not count; with them the chain is longer,
    which the second assertion keeps in view."""
    chain = longest_chain(service_graph(run_time_only=True))
    assert len(chain) <= 6, " -> ".join(chain)
    assert len(longest_chain(service_graph())) > len(chain)  # the annotation-only imports are what is left out


def test_a_deeper_module_chain_is_caught():
    graph = service_graph(run_time_only=True)
    graph["service.core.cpu_quota"] = graph["service.core.cpu_quota"] | {"service.inference.engine"}
    assert len(longest_chain(graph)) > 6
