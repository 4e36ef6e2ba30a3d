"""The house: Vigil's modules import only downwards, never each other in a loop, and only the
root (vigil/) knows the root. Read from the code's own import statements."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APPS = [
    "accounts",
    "alerts",
    "audit",
    "changes",
    "checks",
    "common",
    "incidents",
    "jobstores",
    "oncall",
    "paging",
    "postmortems",
    "reports",
    "runbooks",
    "status",
    "teams",
    "vigil",
]


def _imports(path: Path):
    """(module imported, inside a function?) for every import statement in a file."""
    tree = ast.parse(path.read_text())
    nested = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            yield name, id(node) in nested


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def vigil_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield _module(path), path


def test_no_services_module_imports_its_own_tasks_module():
    offenders = [
        (module, name)
        for module, path in vigil_modules()
        if module.endswith(".services")
        for name, _ in _imports(path)
        if name.startswith(module.removesuffix("services") + "tasks")
    ]
    assert offenders == []


def test_common_imports_none_of_vigils_apps():
    offenders = [
        (module, name)
        for module, path in vigil_modules()
        if module.startswith("common")
        for name, _ in _imports(path)
        if name.split(".")[0] in APPS and name.split(".")[0] != "common"
    ]
    assert offenders == []


def test_no_module_level_import_cycle_between_vigils_modules():
    known = {module for module, _ in vigil_modules()}
    graph = {
        module: {
            name
            for name, nested in _imports(path)
            if not nested and name in known and name != module
        }
        for module, path in vigil_modules()
    }
    cycles = []
    state = {}

    def visit(module, trail):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


# The floors, from the ground up: an import only ever points down (or along its own floor).
FLOOR = {
    "common": 0,
    "accounts": 1,
    "teams": 1,
    "audit": 1,
    "incidents": 2,
    "oncall": 3,
    "alerts": 3,
    "paging": 3,
    "runbooks": 3,
    "postmortems": 3,
    "checks": 3,
    "jobstores": 3,
    "changes": 3,
    "status": 3,
    "reports": 3,
    "vigil": 4,
}


def test_no_import_runs_from_a_lower_floor_to_a_higher_one():
    assert set(FLOOR) == set(APPS)
    upward = [
        (module, name)
        for module, path in vigil_modules()
        for name, _ in _imports(path)
        if name.split(".")[0] in FLOOR and FLOOR[name.split(".")[0]] > FLOOR[module.split(".")[0]]
    ]
    assert upward == []


def test_only_the_root_knows_the_root():
    outside = [
        (module, name)
        for module, path in vigil_modules()
        if not module.startswith("vigil")
        for name, _ in _imports(path)
        if name.split(".")[0] == "vigil"
    ]
    assert outside == []
