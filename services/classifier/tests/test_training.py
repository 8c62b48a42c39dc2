from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import pytest

from classifier.bundle import ModelBundle
from classifier.cli import main
from classifier.corpus import load_corpus
from classifier.evaluation import compare
from classifier.model import Classifier, PostInput
from classifier.models import TABLES, FeedbackRecord
from classifier.training import fit
from incidents_common.db import Database

from .conftest import TINY_ROWS, write_corpus


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


class TestTrainCommand:
    def test_builds_activates_then_refuses_a_worse_model(
        self, tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        active = tmp_path / "active" / "model.joblib"
        common = ["--model", str(active), "--candidates-dir", str(tmp_path / "cands"), "--no-feedback"]
        code, out = run(capsys, "train", "--corpus", str(tiny_corpus), *common)
        assert code == 0, out
        assert "activated" in out
        first = ModelBundle.load(active)
        assert json.loads(active.with_suffix(".json").read_text())["version"] == first.version

        # A corpus with every incident label flipped trains a model that is worse on the same test rows.
        flipped = [
            {
                **r,
                "is_incident": not r["is_incident"],
                "category": ("roads", "waste")[n % 2],
                "urgency": ("high", "normal")[n % 2],
            }  # noqa: E501
            for n, r in enumerate(TINY_ROWS)
        ]
        worse = write_corpus(tmp_path / "worse", flipped, [])
        (worse / "handwritten_t.jsonl").write_text(
            (worse / "handwritten_t.jsonl").read_text() + _test_lines(tiny_corpus), encoding="utf-8"
        )
        code, out = run(capsys, "train", "--corpus", str(worse), *common)
        assert code == 3, out
        assert "REFUSED" in out
        assert ModelBundle.load(active).version == first.version
        assert len(list((tmp_path / "cands").glob("model-*.joblib"))) == 2

    def test_evaluate_prints_the_figures(
        self, tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:  # noqa: E501
        active = tmp_path / "m.joblib"
        assert (
            run(
                capsys,
                "train",
                "--corpus",
                str(tiny_corpus),
                "--model",
                str(active),
                "--candidates-dir",
                str(tmp_path),
                "--no-feedback",
            )[0]
            == 0
        )  # noqa: E501
        code, out = run(capsys, "evaluate", "--corpus", str(tiny_corpus), "--model", str(active))
        assert code == 0
        for heading in ("is_incident", "precision", "macro-F1", "region", "urgency", "category confusion"):
            assert heading in out

    async def test_stored_feedback_joins_training(self, tiny_corpus: Path, tmp_path: Path) -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'feedback.db'}"
        db = Database(url, TABLES)
        await db.create_tables()
        async with db.transaction() as session:
            session.add(
                FeedbackRecord(
                    text="Свалку у реки подожгли, горит третий день",
                    is_incident=True,
                    category="waste",
                    urgency="high",
                    sentiment="negative",
                    corrected=["category"],
                )
            )
        await db.dispose()
        common = ["--model", str(tmp_path / "m.joblib"), "--candidates-dir", str(tmp_path / "c")]
        args = ["train", "--corpus", str(tiny_corpus), "--database-url", url, *common]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = await asyncio.to_thread(main, args)
        assert code == 0
        assert "1 from operator feedback" in out.getvalue()
        assert ModelBundle.load(tmp_path / "m.joblib").training["feedback"] == 1

    def test_clear_errors(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["evaluate", "--model", str(tmp_path / "none.joblib")]) == 2
        assert "no model" in capsys.readouterr().err
        assert main(["train", "--corpus", str(tmp_path / "missing"), "--no-feedback"]) == 2
        assert "does not exist" in capsys.readouterr().err

    def test_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--help"])
        assert exit_info.value.code == 0
        assert "not worse" in capsys.readouterr().out


class TestTrainingPieces:
    def test_feedback_rows_join_training(self, tiny_corpus: Path) -> None:
        extra = [
            {
                "text": "Свалка у реки горит",
                "is_incident": True,
                "category": "waste",
                "urgency": "critical",
                "sentiment": "negative",
            }
        ]  # noqa: E501
        corpus = load_corpus(tiny_corpus, extra=extra)
        assert any(r.get("feedback") for r in corpus.train)
        assert all(r.get("split") == "test" for r in corpus.test)

    def test_tiny_model_classifies_with_evidence(self) -> None:
        classifier = Classifier(fit(TINY_ROWS, c=5.0))
        result = classifier.classify(PostInput(text="Мусор не вывозят, баки переполнены"))
        assert result.category.label == "waste"
        assert result.category.evidence

    def test_compare_refuses_a_drop(self) -> None:
        good = {"incident_f1": 0.93, "category_macro_f1": 0.86, "region_accuracy": 0.9, "urgency_accuracy": 0.85}
        assert compare(good, good)[0]
        assert not compare({**good, "incident_f1": 0.80}, good)[0]


def _test_lines(corpus: Path) -> str:
    lines = (corpus / "handwritten_t.jsonl").read_text(encoding="utf-8").splitlines()
    return "".join(line + "\n" for line in lines if '"split": "test"' in line)
