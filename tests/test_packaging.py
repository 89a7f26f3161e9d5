"""What the package promises about its dependencies: no floor admits a version with a known
vulnerability that the project's code paths reach."""
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from packaging.version import Version

ROOT = Path(__file__).parent.parent
KNOWN = {  # package: first fixed version (advisory)
    "pyarrow": "14.0.1",    # CVE-2023-47248: arbitrary code on reading IPC/Parquet
    "torch": "2.6",         # CVE-2025-32434: torch.load(weights_only=True) could run code
    "lightning": "2.3.3",   # CVE-2024-5452: deepdiff-based remote code execution
}


def floors() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = {}
    for requirement in project["dependencies"]:
        match = re.match(r"([A-Za-z0-9_.\[\]-]+)\s*>=\s*([0-9.]+)", requirement)
        if match:
            found[match.group(1).split("[")[0].lower()] = Version(match.group(2))
    return found


def test_no_dependency_floor_admits_a_known_vulnerable_version():
    have = floors()
    for package, fixed in KNOWN.items():
        assert package in have, f"{package} has no floor"
        assert have[package] >= Version(fixed), f"{package}>={have[package]} admits a version before {fixed}"


def test_the_module_map_of_the_development_page_names_every_module_and_no_other():
    page = (ROOT / "docs" / "development.md").read_text()
    table = page.split("Where things live", 1)[1].split("\n\n", 2)[1]
    named = set(re.findall(r"`((?:cli/)?[a-z_]+\.py)`", table))
    package = ROOT / "forecast"
    present = {p.relative_to(package).as_posix() for p in package.rglob("*.py")} - {"__init__.py", "__main__.py"}
    assert named == present, (sorted(present - named), sorted(named - present))


def test_the_package_keeps_its_shape_no_import_circle_and_no_file_over_400_lines():
    import importlib.util

    spec = importlib.util.spec_from_file_location("shape", ROOT / "benchmarks" / "shape.py")
    shape = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shape)
    found = shape.modules()
    graph = {name: shape.imports(path, set(found)) - {name, "forecast"} for name, path in found.items()}
    assert shape.circles(graph) == []
    assert [name for name, path in found.items() if len(path.read_text().splitlines()) > 400] == []
    held = shape.feature_lines(found)  # every function the accounting names is still there
    assert set(held) == set(shape.FEATURES) and all(count > 0 for count in held.values())


def test_the_library_imports_its_own_modules_at_the_top_but_for_five_each_saying_why():
    """The arrows between modules are read at the top of each file; an import inside a function hides
    one, so the few that keep a light module light say so on their line."""
    import ast

    hidden = []
    for path in (ROOT / "forecast").rglob("*.py"):
        if "cli" in path.parts:  # the command line imports late on purpose: --help starts fast
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                hidden += [(path.name, s.lineno, "#" in lines[s.end_lineno - 1]) for s in ast.walk(node)
                           if isinstance(s, ast.ImportFrom) and (s.module or "").startswith("forecast")]
    assert len(hidden) <= 5 and all(said for _, _, said in hidden), hidden


def test_the_installed_version_is_the_packages_own_and_comes_after_the_model_formats_it_names():
    import importlib.metadata

    import forecast

    assert importlib.metadata.version("forecast") == forecast.__version__  # pyproject reads __init__.py
    assert Version(forecast.__version__) > Version("0.2")  # messages speak of "forecast 0.2" as the past
