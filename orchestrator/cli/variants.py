"""``edgefleet variants ...``: build, list, show and add variants."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from edgefleet.core.errors import InvalidArgument
from edgefleet.core.evalset import load_eval_set
from edgefleet.core.fsutil import read_user_file
from edgefleet.orchestrator.cli.common import DEFAULT_SERVER, JsonFlag, ServerOpt, client
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, plural, print_json, table
from edgefleet.orchestrator.cli.render import CARD_COLUMNS, card_dict, card_row, field_rows
from edgefleet.orchestrator.service.variants import BuildResult
from edgefleet.orchestrator.service.variants import Progress as BuildProgress
from edgefleet.orchestrator.variants.sources import (
    KERAS_SUFFIXES,
    Base,
    check_disjoint,
    keras_bases,
    parse_ratios,
)

app = typer.Typer(help="Build, analyse and register compressed variants of a model.", no_args_is_help=True)


def _names(path: Path, model: str | None) -> tuple[str, str]:
    """Model and base names from a file name: ``digits_w1.0.tflite`` -> (digits, w1.0)."""
    stem = path.stem.lower()
    head, _, tail = stem.partition("_")
    return model or head, tail or "base"


def _jobs(
    paths: list[Path],
    model: str | None,
    *,
    train: Path | None,
    eval_npz: bytes,
    eval_set: Path | None,
    ratios: tuple[float, ...],
    epochs: int,
    search_epochs: int,
    bar: Progress,
) -> list[tuple[str, Base]]:
    """(model name, base) for every base to build: .tflite as given; Keras models converted and, with
    ratios, pruned here (TensorFlow on this machine), before anything is sent to the orchestrator."""
    if train is not None and not ratios:
        raise InvalidArgument("--train is the training data of --prune; give --prune RATIOS too")
    train_set = None
    if ratios:
        if train is None:
            raise InvalidArgument("--prune trains the model: give its training data with --train TRAIN.npz")
        if eval_set is None:
            raise InvalidArgument(
                "--prune needs --eval EVAL.npz (the family's evaluation set): the training data must not "
                "hold its samples"
            )
        train_set = load_eval_set(read_user_file(train, "training data"), source=str(train))
        check_disjoint(train_set, load_eval_set(eval_npz, source=str(eval_set)))
    jobs: list[tuple[str, Base]] = []
    for path in paths:
        name, base_name = _names(path, model)
        if path.suffix.lower() not in KERAS_SUFFIXES:
            if ratios:
                raise InvalidArgument(
                    f"{path}: --prune needs a Keras model (.keras); a .tflite cannot be retrained"
                )
            jobs.append((name, Base(base_name, read_user_file(path, "base model"), source=str(path))))
            continue
        read_user_file(path, "Keras model")  # a clear error for a missing file before TensorFlow loads
        task = bar.add_task(f"{name}/{base_name}: converting", total=None)

        def report(stage: str, done: int, total: int, task: TaskID = task) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        bases = keras_bases(
            path,
            base_name,
            train=train_set,
            ratios=ratios,
            search_epochs=search_epochs,
            finetune_epochs=epochs,
            report=report,
        )
        bar.update(task, description=f"{name}/{base_name}: {len(bases)} base(s) ready")
        jobs += [(name, dataclasses.replace(b, source=str(path))) for b in bases]
    return jobs


def _reference_jobs(grid: bool) -> tuple[list[tuple[str, Base]], Path]:
    from edgefleet.orchestrator.reference import reference_family, reference_grid

    fam = reference_grid() if grid else reference_family()
    jobs = [(fam.model, Base(m.base_name, m.path.read_bytes(), m.pruning)) for m in fam.models]
    return jobs, fam.eval_path


@app.command("build")
def build(
    bases: Annotated[
        list[Path],
        typer.Argument(help="Float base models: .tflite, or Keras (.keras) converted here; one per width."),
    ] = [],  # noqa: B006
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
    prune: Annotated[
        str,
        typer.Option(
            "--prune",
            help="Early-Bird channel pruning of a Keras base at these ratios, e.g. 0.3,0.5,0.7: each pruned, "
            "fine-tuned network (BASE-p0.3, ...) gets every recipe. Needs --train, --eval and TensorFlow "
            "(the `train` extra) here.",
        ),
    ] = "",
    train: Annotated[
        Path | None,
        typer.Option(
            "--train", help="Training data for --prune (.npz: x, y); must not share samples with --eval."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, help="--prune: fine-tuning epochs per pruned network.")] = 20,
    search_epochs: Annotated[
        int, typer.Option(min=2, help="--prune: at most this many epochs to draw the Early-Bird ticket.")
    ] = 30,
    reference: Annotated[
        bool, typer.Option("--reference", help="Build the shipped 'digits' family (the demo's three widths).")
    ] = False,
    grid: Annotated[
        bool,
        typer.Option(
            "--grid",
            help="With --reference: every shipped network (the demo's three, the Once-for-All sub-networks "
            "at every width and the Early-Bird-pruned ones) x recipes.",
        ),
    ] = False,
    threads: Annotated[int, typer.Option(min=1, help="Threads for calibration and host latency.")] = 1,
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Build every recipe for each base, analyse, evaluate, sign and register the variants."""
    with errors_to_exit_codes():
        if grid and not reference:
            raise InvalidArgument("--grid goes with --reference")
        ratios = parse_ratios(prune) if prune else ()
        if not bases and not reference:
            raise InvalidArgument("give base model file(s) (with --eval EVAL.npz), or --reference")
        wanted = tuple(r.strip() for r in recipes.split(",") if r.strip())
        results: list[BuildResult] = []
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console(),
            disable=json_out,
            transient=False,
        ) as bar:
            if reference:
                jobs, eval_set = _reference_jobs(grid)
                eval_npz = read_user_file(eval_set, "evaluation set")
            else:
                eval_npz = read_user_file(eval_set, "evaluation set") if eval_set else b""
                jobs = _jobs(
                    bases,
                    model,
                    train=train,
                    eval_npz=eval_npz,
                    eval_set=eval_set,
                    ratios=ratios,
                    epochs=epochs,
                    search_epochs=search_epochs,
                    bar=bar,
                )
            with client(server) as api:
                for name, base in jobs:
                    task = bar.add_task(f"{name}/{base.name}", total=None)
                    for update in api.build_variants(
                        model=name,
                        base=base.data,
                        eval_npz=eval_npz,
                        base_name=base.name,
                        recipes=wanted,
                        threads=threads,
                        pruning=base.pruning,
                        source_name=base.source,
                        eval_source_name=str(eval_set or ""),
                    ):
                        if isinstance(update, BuildProgress):
                            bar.update(
                                task, total=update.total, completed=update.done, description=update.stage
                            )
                        else:
                            results.append(update)
                            bar.update(
                                task, completed=bar.tasks[task].total, description=f"{name}/{base.name}: done"
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
    for card in cards:
        if card.pruning is not None and card.recipe == "fp32":
            console().print(f"{card.base_name}: {card.pruning.describe()}", highlight=False, markup=False)


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
        data = read_user_file(path, "model")
        card = api.add_variant(
            model=model,
            data=data,
            recipe=recipe,
            eval_npz=read_user_file(eval_set, "evaluation set") if eval_set else b"",
            source_name=str(path),
            eval_source_name=str(eval_set or ""),
        )
    if json_out:
        print_json(card_dict(card))
        return
    console().print(table("variant registered", CARD_COLUMNS, [card_row(card)]))
