"""The block contract (thresher/filters/base.py) and the import rules of the package layout.

Every registered block builds with no arguments (its thresholds from its defaults preset), every
threshold is written in the presets, columns are typed and drop reasons documented; blocks never
import the orchestration, and a run never imports the lab.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from thresher.filters.base import REGISTRY, parameters, thresholds
from thresher.filters.presets import block_params, read_preset
from thresher.pipeline.run.presets import registry

ROOT = Path(__file__).resolve().parents[1]  # the repository is the `thresher` package
BLOCKS = sorted(registry())
# reason templates may hold these placeholders (filters/base.py)
PLACEHOLDERS = {"n", "languages"}


# --- building ---------------------------------------------------------------------------------------


def state(value, depth: int = 0):
    """A comparable picture of a block's settings: plain values as they are, objects by their fields."""
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return [state(v, depth) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, dict):
        return {k: state(v, depth) for k, v in value.items()}
    if isinstance(value, re.Pattern):
        return ("re", value.pattern, value.flags)
    if hasattr(value, "__dict__") and not callable(value) and depth < 3:
        return type(value).__name__, {k: state(v, depth + 1) for k, v in vars(value).items() if k != "stats"}
    return value


@pytest.mark.parametrize("name", BLOCKS)
def test_block_built_without_arguments_equals_from_preset(name):
    cls = REGISTRY[name]
    assert state(vars(cls())) == state(vars(cls.from_preset()))


@pytest.mark.parametrize("name", BLOCKS)
def test_block_without_arguments_takes_what_its_defaults_preset_sets(name):
    # a parameter the defaults preset sets comes from there; one it leaves out keeps the code's default
    cls = REGISTRY[name]
    preset = block_params(cls.defaults_preset, name)
    code_defaults = {
        n: p.default for n, p in parameters(cls).items() if p.default is not inspect.Parameter.empty and n not in preset
    }
    assert state(vars(cls())) == state(vars(cls(**preset, **code_defaults)))


@pytest.mark.parametrize("preset", ["fineweb", "fast", "sample", "thresher", "fineweb2"])
def test_presets_set_every_threshold_of_their_blocks(preset):
    for name, params in read_preset(preset)["pipeline"]:
        missing = set(thresholds(REGISTRY[name])) - set(params)
        assert not missing, f"{preset}: block {name!r} leaves {sorted(missing)} unset"


@pytest.mark.parametrize("name", BLOCKS)
def test_defaults_preset_sets_every_threshold(name):
    cls = REGISTRY[name]
    assert set(thresholds(cls)) <= set(block_params(cls.defaults_preset, name)), cls.defaults_preset
    assert set(block_params(cls.defaults_preset, name)) <= set(parameters(cls))


def test_every_block_is_in_its_defaults_preset_and_fineweb_names_its_own():
    for name in BLOCKS:
        preset = REGISTRY[name].defaults_preset
        assert name in {n for n, _ in read_preset(preset)["pipeline"]}, (name, preset)
    names = [name for name, _ in read_preset("fineweb")["pipeline"]]
    assert len(names) == len(set(names))
    assert {n for n in BLOCKS if REGISTRY[n].defaults_preset == "fineweb"} == set(names)
    assert REGISTRY["extract_resiliparse"].defaults_preset == "fast"


# --- columns and reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BLOCKS)
def test_output_columns_are_pyarrow_types(name):
    columns = REGISTRY[name].output_columns
    assert isinstance(columns, dict)
    for column, dtype in columns.items():
        assert isinstance(column, str) and re.fullmatch(r"[a-z][a-z0-9_]*", column), column
        assert isinstance(dtype, pa.DataType), (column, dtype)


@pytest.mark.parametrize("name", BLOCKS)
def test_drop_reasons_are_documented(name):
    reasons = REGISTRY[name].drop_reasons
    assert isinstance(reasons, dict)
    for reason, when in reasons.items():
        assert re.fullmatch(r"[a-z0-9_{}]+", reason), reason
        assert {p for p in re.findall(r"{(\w+)}", reason)} <= PLACEHOLDERS, reason
        assert isinstance(when, str) and when.strip() and when != reason, (reason, when)


def test_every_block_that_can_drop_declares_its_reasons():
    from datatrove.pipeline.filters.base_filter import BaseFilter

    for name in BLOCKS:
        cls = REGISTRY[name]
        assert bool(cls.drop_reasons) == issubclass(cls, BaseFilter), name


def test_gopher_import_path_still_works():
    from thresher.filters.gopher import GopherQualityFilter, GopherRepetitionFilter

    assert GopherQualityFilter is REGISTRY["gopher_quality"]
    assert GopherRepetitionFilter is REGISTRY["gopher_repetition"]
    from thresher.filters import GopherQualityFilter as lazy

    assert lazy is GopherQualityFilter


# --- imports ----------------------------------------------------------------------------------------


def module_name(path: Path) -> str:
    """The module a file of the repository is: the repository root is the `thresher` package."""
    parts = ["thresher", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported thresher module or name, whether the import is inside a function) of one file."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = {
        id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target] + [f"{target}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(t, id(node) in lazy) for t in targets if t == "thresher" or t.startswith("thresher.")]
    return found


def source_files() -> list[Path]:
    return sorted(p for top in ("pipeline", "filters") for p in (ROOT / top).rglob("*.py"))


def folder(module: str) -> str:
    """The folder a module belongs to: `filters`, a folder of pipeline/ (or one of its top-level modules)."""
    parts = module.split(".") + [""]
    if parts[1] != "pipeline":
        return parts[1] or "thresher"  # filters, configs
    return parts[2] or "pipeline"


def test_imports_resolve_to_real_modules():
    # checks the resolution of relative imports the rules below rely on
    for path in source_files():
        for target, _ in imports(path):
            parent = target.rsplit(".", 1)[0]  # `from x import name`: the module is x or x.name
            assert _is_module(target) or _is_module(parent), (path, target)


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def test_blocks_never_import_the_pipeline():
    for path in sorted((ROOT / "filters").rglob("*.py")):
        bad = [t for t, _ in imports(path) if t.startswith("thresher.pipeline")]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


DATA_PATH = {"read", "extract", "dedup", "format", "write"}


def test_data_path_never_imports_orchestration():
    for path in source_files():
        if folder(module_name(path)) in DATA_PATH:
            bad = [t for t, _ in imports(path) if folder(t) in {"run", "cli", "report", "lab"}]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_a_run_never_imports_the_lab():
    """Only the lab imports the lab, and the CLI inside its bench and train commands (lazily)."""
    for path in source_files():
        where = folder(module_name(path))
        if where == "lab":
            continue
        for target, lazy in imports(path):
            if target.startswith("thresher.pipeline.lab"):
                assert where == "cli" and lazy, f"{path.relative_to(ROOT)} imports {target}"
                assert path.stem in ("bench", "train"), f"{path.relative_to(ROOT)} imports {target}"


def test_no_import_cycle_between_folders():
    edges: dict[str, set[str]] = {}
    for path in source_files():
        source = folder(module_name(path))
        for target, _ in imports(path):
            if folder(target) != source:
                edges.setdefault(source, set()).add(folder(target))
    # depth-first search for a back edge
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import cycle between folders: " + " -> ".join(path[path.index(node) :] + [node]))
        if node in done:
            return
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, path + [node])
        done.add(node)

    for node in sorted(edges):
        visit(node, [])
    assert "lab" not in {t for s, ts in edges.items() if s != "cli" for t in ts}


def test_running_a_preset_loads_no_lab_module(tmp_path):
    code = (
        "import sys\n"
        "from thresher.pipeline.cli import main\n"
        "from thresher.pipeline.run.plan import build_plan\n"
        "from thresher.pipeline.run.presets import registry\n"
        "registry()\n"
        "build_plan('thresher', inputs=['bundled-sample'], output=sys.argv[1])\n"
        "print(sorted(m for m in sys.modules if m.startswith('thresher.pipeline.lab')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
