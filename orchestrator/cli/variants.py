"""``edgefleet variants ...``: build, list, show and add variants."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from edgefleet.core.errors import InvalidArgument
from edgefleet.core.fsutil import read_user_file
from edgefleet.orchestrator.cli.common import DEFAULT_SERVER, JsonFlag, ServerOpt, client
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, plural, print_json, table
from edgefleet.orchestrator.cli.render import CARD_COLUMNS, card_dict, card_row, field_rows
from edgefleet.orchestrator.service.variants import BuildResult
from edgefleet.orchestrator.service.variants import Progress as BuildProgress

app = typer.Typer(help="Build, analyse and register compressed variants of a model.", no_args_is_help=True)


def _read(path: Path, what: str) -> bytes:
    return read_user_file(path, what)


def _names(path: Path, model: str | None) -> tuple[str, str]:
    """Model and base names from a file name: ``digits_w1.0.tflite`` -> (digits, w1.0)."""
    stem = path.stem.lower()
    head, _, tail = stem.partition("_")
    return model or head, tail or "base"


@app.command("build")
def build(
    bases: Annotated[list[Path], typer.Argument(help="Float base models (.tflite); one per width.")] = [],  # noqa: B006
    eval_set: Annotated[
        Path | None,
        typer.Option(
            "--eval",
            help="Labelled evaluation set (.npz: x, y). Default: the family's; a new family without one "
            "gets no accuracy figures and no calibrated (static) recipes.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model family name (default: file name up to '_').")
    ] = None,
    recipes: Annotated[str, typer.Option(help="Comma-separated recipes (default: the standard set).")] = "",
    reference: Annotated[
        bool, typer.Option("--reference", help="Build the shipped 'digits' family.")
    ] = False,
    threads: Annotated[int, typer.Option(min=1, help="Threads for calibration and host latency.")] = 1,
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Build every recipe for each base, analyse, evaluate, sign and register the variants."""
    with errors_to_exit_codes():
        if reference:
            from edgefleet.orchestrator.reference import reference_family

            fam = reference_family()
            bases, eval_set = [m.path for m in fam.models], fam.eval_path
        if not bases:
            raise InvalidArgument("give base model file(s) (with --eval EVAL.npz), or --reference")
        eval_npz = _read(eval_set, "evaluation set") if eval_set else b""
        wanted = tuple(r.strip() for r in recipes.split(",") if r.strip())
        results: list[BuildResult] = []
        with (
            client(server) as api,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console(),
                disable=json_out,
                transient=False,
            ) as bar,
        ):
            for path in bases:
                name, base_name = _names(path, model)
                task = bar.add_task(f"{name}/{base_name}", total=None)
                for update in api.build_variants(
                    model=name,
                    base=_read(path, "base model"),
                    eval_npz=eval_npz,
                    base_name=base_name,
                    recipes=wanted,
                    threads=threads,
                    source_name=str(path),
                    eval_source_name=str(eval_set or ""),
                ):
                    if isinstance(update, BuildProgress):
                        bar.update(task, total=update.total, completed=update.done, description=update.stage)
                    else:
                        results.append(update)
                        bar.update(
                            task, completed=bar.tasks[task].total, description=f"{name}/{base_name}: done"
                        )
    cards = [c for r in results for c in r.variants]
    skipped = [(r.variants[0].base_name if r.variants else "?", s) for r in results for s in r.skipped]
    if json_out:
        print_json(
            {
                "variants": [card_dict(c) for c in cards],
                "skipped": [{"base": b, "recipe": s.recipe, "reason": s.reason} for b, s in skipped],
            }
        )
        return
    title = f"{plural(len(cards), 'variant')} registered"
    console().print(table(title, CARD_COLUMNS, [card_row(c) for c in cards]))
    for base_name, s in skipped:
        console().print(Text.assemble(("skipped", "yellow"), f" {base_name} {s.recipe}: {s.reason}"))


@app.command("list")
def list_(
    model: Annotated[str, typer.Option(help="Only this model family.")] = "",
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """All registered variants with their card's main figures."""
    with errors_to_exit_codes(), client(server) as api:
        cards = api.list_variants(model)
    if json_out:
        print_json([card_dict(c) for c in cards])
        return
    console().print(table(plural(len(cards), "variant"), CARD_COLUMNS, [card_row(c) for c in cards]))


@app.command("show")
def show(
    variant_id: Annotated[str, typer.Argument(help="Variant id or a unique prefix (8+ hex digits).")],
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Everything the card knows about one variant."""
    with errors_to_exit_codes(), client(server) as api:
        card = api.get_variant(variant_id)
    data = card_dict(card)
    if json_out:
        print_json(data)
        return
    rows = field_rows({k: v for k, v in data.items() if k != "signature"}, times=frozenset({"created"}))
    console().print(
        table(
            f"variant {card.short_id} ({card.model} {card.base_name} {card.recipe})", ["field", "value"], rows
        )
    )


@app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="A .tflite of yours (any dtype).")],
    model: Annotated[str, typer.Option(help="Model family it belongs to.")],
    recipe: Annotated[str, typer.Option(help="Label for the recipe column.")] = "user",
    eval_set: Annotated[
        Path | None,
        typer.Option(
            "--eval",
            help="Labelled evaluation set (.npz: x, y). Default: the family's; a new family without one "
            "gets no accuracy figure.",
        ),
    ] = None,
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Register your own .tflite as a variant: analysed, evaluated and signed like the built ones."""
    with errors_to_exit_codes(), client(server) as api:
        data = _read(path, "model")
        card = api.add_variant(
            model=model,
            data=data,
            recipe=recipe,
            eval_npz=_read(eval_set, "evaluation set") if eval_set else b"",
            source_name=str(path),
            eval_source_name=str(eval_set or ""),
        )
    if json_out:
        print_json(card_dict(card))
        return
    console().print(table("variant registered", CARD_COLUMNS, [card_row(card)]))
