"""The measured signs of issue 31 ("One shape"): is the toolkit small enough to hold in one head?

    python benchmarks/shape.py          # one line per sign, then JSON

Package lines and files (and the largest), import circles between the package's modules (module and
function level), import arrows and the longest chain of imports (the floors the package stands on),
`ModelConfig` fields, options per command, names in `forecast.__all__`; then the lines that the features
other issues asked for hold (`FEATURES`), and what the package would be without them.
"""
import ast
import json
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "forecast"


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in sorted(ROOT.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules that `path` imports, at any level (a function's import counts)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [f"{node.module}.{a.name}" for a in node.names] + [node.module] \
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        found |= {n for n in names if n in known}
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest run of imports, each module importing the next (the graph has no circle): its
    length is the number of floors the package stands on."""
    memo: dict[str, list[str]] = {}

    def chain(v):
        if v not in memo:
            memo[v] = [v] + max((chain(w) for w in graph[v]), key=len, default=[])
        return memo[v]

    return max((chain(v) for v in graph), key=len)


def floors(graph: dict[str, set[str]]) -> str | None:
    """'N: a -> b -> ...', the longest chain of imports; None while there is a circle."""
    if circles(graph):
        return None
    chain = [name.removeprefix("forecast.") for name in longest_chain(graph)]
    return f"{len(chain)}: {' -> '.join(chain)}"


# What the features other issues asked for hold (issue number in brackets): the package's top-level
# functions and classes that serve only them ("module:*" a whole module). A name that is gone fails.
FEATURES = {
    "export (35)": ["serving:export", "serving:_torchscript", "serving:_onnx", "serving:_WithSeries", "cli.run:export"],
    "serve (35)": ["serving:_latest_windows", "serving:preprocessing", "serving:_history", "serving:answer",
                   "serving:make_server", "cli.run:serve"],
    "update (35)": ["trainer:update", "cli.run:update"],
    "tracking (35)": ["train:loggers", "train:_mlflow_uri", "train:tracked", "outputs:log_artifacts"],
    "statistical baselines (35)": ["metrics:statistical", "metrics:_naive2", "metrics:_ets", "metrics:_theta",
                                   "metrics:_arima"],
    "confidence set, Benjamini-Hochberg (35)": ["comparison:confidence_set", "comparison:confidence_line",
                                                "comparison:benjamini_hochberg"],
    "holidays (35)": ["dates:holiday_flags", "dates:_holiday_dates", "checks:holiday_calendar"],
    "Nixtla output (35)": ["outputs:nixtla"],
    "PostgreSQL and shared studies (13, 14)": ["storage:*"],
    "several devices (13)": ["trainer:SpawnedDDP", "trainer:device_count"],
    "busy machine (16)": ["forecaster:cores", "forecaster:fixed_count", "forecaster:CpuMeter", "forecaster:choose",
                          "forecaster:AdaptiveThreads", "forecaster:torch_threads"],
    "resume (14)": ["trainer:data_fingerprint", "trainer:earlier_log", "trainer:merge_log", "trainer:check_resume",
                    "trainer:resumable", "forecaster:LastCheckpoint"],
    "adaptive intervals (12)": ["intervals:adaptive_margins"],
    "known covariates (11)": ["preprocess:lead_known", "preprocess:known_ahead"],
    "static covariates (11)": ["preprocess:static_values", "preprocess:static_encoding", "preprocess:apply_static",
                               "preprocess:encode_static", "preprocess:static_table"],
    "Yahoo download and cache (2)": ["loading:YahooUnavailable", "loading:validate_ticker", "loading:cache_dir",
                                     "loading:cache_path", "loading:_download", "loading:_write_cache",
                                     "loading:_update", "loading:load_yahoo"],
}


def feature_lines(found: dict[str, Path]) -> dict[str, int]:
    """Lines of each of `FEATURES` (decorators and docstrings included)."""
    def span(module: str, name: str) -> int:
        path = found[f"forecast.{module}"]
        if name == "*":
            return len(path.read_text().splitlines())
        for node in ast.parse(path.read_text()).body:
            if getattr(node, "name", None) == name:
                start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
                return node.end_lineno - start + 1
        raise LookupError(f"FEATURES names {module}:{name}, which is no longer there")

    return {feature: sum(span(*item.split(":")) for item in items) for feature, items in FEATURES.items()}


def main():
    found = modules()
    lines = {name: len(path.read_text().splitlines()) for name, path in found.items()}
    graph = {name: imports(path, set(found)) - {name} for name, path in found.items()}
    graph = {name: {m for m in deps if m != "forecast"} for name, deps in graph.items()}  # the package root
    import forecast
    from forecast.cli import click_app
    from forecast.config import ModelConfig
    options = {name: sum(1 for p in cmd.params if p.param_type_name == "option" and p.name != "help")
               for name, cmd in click_app.commands.items()}
    signs = {"package lines": sum(lines.values()), "files": len(lines),
             "largest": max(lines.items(), key=lambda kv: kv[1]),
             "files over 400 lines": sorted(n for n, c in lines.items() if c > 400),
             "import circles": circles(graph), "import arrows": sum(len(deps) for deps in graph.values()),
             "floors": floors(graph), "ModelConfig fields": len(fields(ModelConfig)),
             "options per command": options, "__all__": len([n for n in forecast.__all__ if n != "__version__"])}
    for key, value in signs.items():
        print(f"{key}: {value}")
    held = feature_lines(found)
    print("lines held by features other issues asked for:")
    for feature, count in held.items():
        print(f"  {feature}: {count}")
    print(f"  all of them: {sum(held.values())}; the package without them: {signs['package lines'] - sum(held.values())}")
    print(json.dumps({**signs, "feature lines": held}))


if __name__ == "__main__":
    main()
