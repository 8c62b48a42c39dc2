"""Command line: `python -m classifier train|evaluate|classify|migrate`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from classifier.config import Settings

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _progress(description: str) -> Any:
    from tqdm import tqdm

    return lambda items: tqdm(items, desc=description, unit="post", leave=False, file=sys.stderr)


async def _feedback_rows(database_url: str) -> list[dict[str, Any]]:
    from classifier.models import TABLES
    from classifier.service import feedback_training_rows
    from incidents_common.db import Database

    db = Database(database_url, TABLES)
    try:
        await db.migrate()
        async with db.transaction() as session:
            return await feedback_training_rows(session)
    finally:
        await db.dispose()


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from classifier.bundle import ModelBundle
    from classifier.corpus import load_corpus
    from classifier.evaluation import activate, compare, evaluate, format_report
    from classifier.model import Classifier
    from classifier.training import fit

    feedback: list[dict[str, Any]] = []
    if not args.no_feedback:
        url = args.database_url or settings.resolved_database_url()
        feedback = asyncio.run(_feedback_rows(url))
    corpus = load_corpus(Path(args.corpus), include_generated=not args.no_generated, extra=feedback)
    _out(
        f"corpus: {len(corpus.train)} training rows ({len(feedback)} from operator feedback), "
        f"{len(corpus.test)} held-out rows, {corpus.skipped} unreadable lines skipped"
    )
    bundle = fit(corpus.train, c=args.c, progress=_progress("analysing"))
    candidate = Classifier(bundle)
    bundle.metrics = evaluate(candidate, corpus.test)
    candidates_dir = Path(args.candidates_dir or settings.candidates_dir)
    candidate_path = candidates_dir / f"model-{bundle.version}.joblib"
    bundle.save(candidate_path)
    _out(f"built model {bundle.version} -> {candidate_path}")
    _out(format_report(bundle.metrics))
    active_path = Path(args.model) if args.model else settings.resolved_model_path()
    if active_path.exists() and not args.force:
        try:
            active = Classifier(ModelBundle.load(active_path), candidate.gazetteer)
        except (ValueError, OSError, AttributeError, ModuleNotFoundError) as exc:
            _err(f"the active model {active_path} cannot be read ({exc}); replacing it")
        else:
            active_metrics = evaluate(active, corpus.test)
            accepted, reason = compare(bundle.metrics, active_metrics)
            if not accepted:
                _out(
                    f"REFUSED: not activating {bundle.version}: {reason} "
                    f"(active {active.version} stays; --force overrides)"
                )
                return 3
            _out(f"accepted: {reason}")
    activate(candidate_path, active_path, bundle)
    _out(f"activated {bundle.version} at {active_path}")
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from classifier.corpus import load_corpus, read_jsonl
    from classifier.evaluation import evaluate, format_report
    from classifier.model import Classifier

    path = Path(args.model) if args.model else settings.resolved_model_path()
    if not path.exists():
        _err(f"error: no model at {path}; run `python -m classifier train` first")
        return 2
    classifier = Classifier.load(path)
    if args.file:
        # First contact: every line of each file, whatever its split (files nobody tuned the model on).
        rows = []
        for name in args.file:
            file_rows, skipped = read_jsonl(Path(name), generated=False)
            if not file_rows:
                _err(f"error: {name} has no readable labelled lines")
                return 2
            if skipped:
                _err(f"{name}: {skipped} unreadable lines skipped")
            rows += file_rows
        source = ", ".join(args.file)
    else:
        rows = load_corpus(Path(args.corpus), include_generated=False).test
        source = "the hand-written test split"
    metrics = evaluate(classifier, rows)
    if args.json:
        _out(json.dumps(metrics, ensure_ascii=False, indent=2))
    else:
        _out(f"model {classifier.version} ({path}) on {source}")
        _out(format_report(metrics))
    return 0


def cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from classifier.model import Classifier, PostInput

    classifier = Classifier.load(Path(args.model) if args.model else settings.resolved_model_path())
    result = classifier.classify(PostInput(text=args.text, place_hint=args.hint))
    _out(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from incidents_common.migrations import run_migrate_command

    return run_migrate_command(args, package="classifier", database_url=settings.resolved_database_url)


REPLIES_MODEL = Path(__file__).resolve().parent / "data" / "replies.joblib"


def cmd_train_replies(args: argparse.Namespace, settings: Settings) -> int:
    from classifier import replies

    files = sorted(Path(args.corpus).glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no labelled replies (*.jsonl) in {args.corpus}")
    rows = replies.read_rows(files)
    train_rows = [r for r in rows if r.get("split") != "test"]
    test_rows = [r for r in rows if r.get("split") == "test"]
    _err(f"replies: {len(train_rows)} to train on, {len(test_rows)} held out, from {len(files)} files")
    model = replies.train(train_rows)
    model.metrics = replies.evaluate(model, test_rows) if test_rows else {}
    model.save(Path(args.model))
    sys.stdout.write(
        json.dumps({"version": model.version, "model": args.model, **model.metrics}, ensure_ascii=False) + "\n"
    )
    return 0


def cmd_evaluate_replies(args: argparse.Namespace, settings: Settings) -> int:
    from classifier import replies

    model = replies.ReplyModel.load(Path(args.model))
    for name in args.file:
        metrics = replies.evaluate(model, replies.read_rows([Path(name)]))
        sys.stdout.write(json.dumps({"file": name, "model": model.version, **metrics}, ensure_ascii=False) + "\n")
    return 0


REACTIONS_MODEL = Path(__file__).resolve().parent / "data" / "reactions.joblib"


def _reaction_progress(description: str) -> Any:
    from tqdm import tqdm

    return lambda items: tqdm(items, desc=description, unit="reaction", leave=False, file=sys.stderr)


def cmd_train_reactions(args: argparse.Namespace, settings: Settings) -> int:
    from classifier.reactions import training
    from classifier.reactions.model import LABELS

    corpus = Path(args.corpus)
    if not corpus.is_dir():
        raise FileNotFoundError(f"no folder {corpus}")
    files = sorted(corpus.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no labelled reactions (*.jsonl) in {corpus}")
    rows = training.read_rows(files)
    train_rows = [r for r in rows if r.get("split") != "test"]
    test_rows = [r for r in rows if r.get("split") == "test"]
    if not train_rows or len({r["label"] for r in train_rows}) < len(LABELS):
        raise ValueError(f"the train split needs every label ({', '.join(LABELS)})")
    _err(f"reactions: {len(train_rows)} to train on, {len(test_rows)} held out, from {len(files)} files")
    model = training.train(train_rows, c=args.c, progress=_reaction_progress("reading"))
    model.metrics = training.evaluate(model, test_rows, _reaction_progress("evaluating")) if test_rows else {}
    model.save(Path(args.model))
    _out(f"model {model.version} -> {args.model}")
    if model.metrics:
        _out("held-out: " + training.format_report(model.metrics))
    return 0


def cmd_evaluate_reactions(args: argparse.Namespace, settings: Settings) -> int:
    from classifier.reactions import training
    from classifier.reactions.model import ReactionModel

    path = Path(args.model)
    if not path.exists():
        _err(f"error: no model at {path}; run `python -m classifier train-reactions` first")
        return 2
    model = ReactionModel.load(path)
    if args.file:
        # First contact: every line of each file, whatever its split.
        for name in args.file:
            if not Path(name).exists():
                raise FileNotFoundError(f"no file {name}")
        rows = training.read_rows([Path(name) for name in args.file])
        source = ", ".join(args.file)
    else:
        rows = [r for r in training.read_rows(sorted(Path(args.corpus).glob("*.jsonl"))) if r.get("split") == "test"]
        source = "the held-out split"
    if not rows:
        _err(f"error: no labelled reactions in {source}")
        return 2
    metrics = training.evaluate(model, rows, _reaction_progress("evaluating"))
    if args.json:
        _out(json.dumps({"model": model.version, **metrics}, ensure_ascii=False, indent=2))
    else:
        _out(f"model {model.version} ({path}) on {source}")
        _out(training.format_report(metrics))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m classifier",
        description="Train, evaluate and try the incidents classifier.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="build a versioned model from the corpus and operator feedback; activate it unless it is worse",
        description="Builds a model from the hand-written train split, generated/*.jsonl and stored operator "
        "feedback, evaluates it on the hand-written test split and activates it only when its held-out metrics "
        "are not worse than the active model's (exit code 3 when refused).",
    )
    train.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="corpus directory (default: %(default)s)")
    train.add_argument("--model", help="the active model file to compare with and replace (default: the packaged one)")
    train.add_argument("--candidates-dir", help="where every built model is kept (default: CLASSIFIER_CANDIDATES_DIR)")
    train.add_argument("--database-url", help="database holding operator feedback (default: CLASSIFIER_DATABASE_URL)")
    train.add_argument("--no-feedback", action="store_true", help="ignore stored operator feedback")
    train.add_argument("--no-generated", action="store_true", help="train on hand-written lines only")
    train.add_argument("--force", action="store_true", help="activate even when the held-out metrics are worse")
    train.add_argument("--c", type=float, default=16.0, help="inverse regularisation strength (default: %(default)s)")
    train.set_defaults(run=cmd_train)
    ev = sub.add_parser("evaluate", help="print held-out metrics of a model on the hand-written test split")
    ev.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="corpus directory (default: %(default)s)")
    ev.add_argument("--model", help="model file (default: the active one)")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.add_argument(
        "--file",
        action="append",
        help="score every line of this JSONL file instead of the test split (first contact); repeatable",
    )
    ev.set_defaults(run=cmd_evaluate)
    cl = sub.add_parser("classify", help="classify one text and print the result with its evidence")
    cl.add_argument("text")
    cl.add_argument("--hint", help="the source's place hint, e.g. 'Подслушано Тольятти'")
    cl.add_argument("--model", help="model file (default: the active one)")
    cl.set_defaults(run=cmd_classify)
    tr = sub.add_parser(
        "train-replies",
        help="train the reply-quality model (answer or отписка) on corpus/replies/*.jsonl and print its test figures",
    )
    tr.add_argument("--corpus", default=str(DEFAULT_CORPUS / "replies"), help="folder of labelled replies")
    tr.add_argument("--model", default=str(REPLIES_MODEL), help="where to write the model (default: %(default)s)")
    tr.set_defaults(run=cmd_train_replies)
    er = sub.add_parser("evaluate-replies", help="score labelled replies with the reply-quality model")
    er.add_argument("--file", action="append", required=True, help="JSONL of labelled replies; repeatable")
    er.add_argument("--model", default=str(REPLIES_MODEL), help="model file (default: %(default)s)")
    er.set_defaults(run=cmd_evaluate_replies)
    tx = sub.add_parser(
        "train-reactions",
        help="train the reactions labeller (thanks, not_fixed, new_problem, other) on corpus/reactions/*.jsonl",
        description="Trains on the train split of every corpus/reactions/*.jsonl file, prints the held-out "
        "figures and the confusion, and writes the model (with its version and metrics).",
    )
    tx.add_argument("--corpus", default=str(DEFAULT_CORPUS / "reactions"), help="folder of labelled reactions")
    tx.add_argument("--model", default=str(REACTIONS_MODEL), help="where to write the model (default: %(default)s)")
    tx.add_argument("--c", type=float, default=4.0, help="inverse regularisation strength (default: %(default)s)")
    tx.set_defaults(run=cmd_train_reactions)
    ex = sub.add_parser(
        "evaluate-reactions",
        help="score labelled reactions: the held-out split, or every line of --file; prints the confusion",
    )
    ex.add_argument("--file", action="append", help="JSONL of labelled reactions, every line scored; repeatable")
    ex.add_argument("--corpus", default=str(DEFAULT_CORPUS / "reactions"), help="folder whose test split is scored")
    ex.add_argument("--model", default=str(REACTIONS_MODEL), help="model file (default: %(default)s)")
    ex.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ex.set_defaults(run=cmd_evaluate_reactions)
    from incidents_common.migrations import add_migrate_command

    add_migrate_command(sub).set_defaults(run=cmd_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    from classifier.corpus import CorpusError

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args, Settings()))
    except (CorpusError, FileNotFoundError, ValueError) as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
