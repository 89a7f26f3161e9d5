"""Reference pages generated from the code at build time (mkdocs-gen-files): every command's options
(Typer's own Markdown of the command line), and every setting of the settings dataclasses with its
type, default, command-line options and the checks it runs on creation. Nothing here is retyped:
change an option or a default and these pages follow."""
import dataclasses
import inspect
import textwrap

import mkdocs_gen_files
import typer
from typer.cli import get_docs_for_click

from forecast import config
from forecast.cli import click_app

CLASSES = [config.SourceConfig, config.DataConfig, config.ModelConfig, config.TrainConfig,
           config.BacktestConfig]


def options_by_field() -> dict[str, list[str]]:
    """Each option's parameter name (the field it sets, where it sets one) -> 'cmd --flag' entries."""
    found: dict[str, list[str]] = {}
    for name, sub in click_app.commands.items():
        for param in sub.params:
            flags = [o for o in param.opts if o.startswith("--")]
            if flags:
                found.setdefault(param.name, []).append(f"`{name} {flags[0]}`")
    return found


def default_of(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{f.default!r}`"
    if f.default_factory is not dataclasses.MISSING:
        return f"`{f.default_factory()!r}`"
    return "required"


options = options_by_field()
with mkdocs_gen_files.open("reference/settings.md", "w") as page:
    page.write("# Settings\n\nEvery setting of the five settings dataclasses in `forecast/config.py`, with its "
               "default and the command-line options that set it (the same names go in a study file's "
               "`source`, `data`, `model`, `train` sections and in the saved `config.json`). This page is "
               "generated from the code when the site is built.\n\n")
    for cls in CLASSES:
        page.write(f"## {cls.__name__}\n\n{inspect.cleandoc(cls.__doc__ or '')}\n\n")
        page.write("| setting | type | default | options |\n|---|---|---|---|\n")
        for f in dataclasses.fields(cls):
            flags = ", ".join(dict.fromkeys(options.get(f.name, []))) or "-"
            page.write(f"| `{f.name}` | `{f.type}` | {default_of(f)} | {flags} |\n")
        post = getattr(cls, "__post_init__", None)
        if post is not None:
            source = textwrap.dedent(inspect.getsource(post))
            page.write(f"\n??? note \"Checks on creation (`{cls.__name__}.__post_init__`)\"\n\n"
                       f"    ```python\n{textwrap.indent(source, '    ')}    ```\n\n")

with mkdocs_gen_files.open("reference/cli.md", "w") as page:
    page.write(get_docs_for_click(obj=click_app, ctx=typer.Context(click_app), name="forecast",
                                  title="Command line"))
    page.write("\n\nBad input of any kind gets one line on stderr and exit status 1; Ctrl-C exits with 130 "
               "after saving what was finished. Generated from the command line itself: `forecast COMMAND "
               "--help` prints the same.\n")
