"""Officials' replies scored before they go out (issue 14, part 3): what the reading finds, the model
trained on labelled replies, the endpoint and the command line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from classifier import cli, replies
from classifier.config import Settings
from classifier.main import create_app
from incidents_common.testing import ServiceAuth

COMPLAINT = "На Ленина 5 огромная яма у подъезда уже месяц, машины бьют колёса"
GOOD = "Добрый день! Яму на Ленина, 5 заделаем до 20 мая, подрядчик ООО «Дорстрой». Фото после работ пришлём сюда."
FORMULA = "Здравствуйте! Ваше обращение передано в ответственную службу. Ситуация на контроле. Спасибо за обращение!"
POLITE_FORMULA = (
    "Уважаемая Анна! Информация о яме на ул. Ленина принята к сведению, ремонт будет выполнен в плановом "
    "порядке по мере финансирования."
)

ROWS: list[dict[str, Any]] = [
    {"complaint": COMPLAINT, "reply": GOOD, "label": "answer"},
    {"complaint": "Третий день нет воды на Садовой 12", "label": "answer",
     "reply": "Аварию на водоводе устранят до 18:00, работает бригада МУП «Водоканал», тел. 8 (8452) 22-33-44."},
    {"complaint": "Не вывозят мусор с площадки на Мира", "label": "answer",
     "reply": "Контейнерную площадку на Мира вывезли сегодня в 14:00, график вывоза — ежедневно до 10 утра."},
    {"complaint": "Не горят фонари на Заводской", "label": "answer",
     "reply": "Фонари на Заводской восстановит подрядчик «Горсвет» в течение 3 рабочих дней."},
    {"complaint": "В поликлинике нет записи к кардиологу", "label": "answer",
     "reply": "Запись к кардиологу откроем в понедельник в 8:00, дополнительно принимает врач Петрова И. А."},
    {"complaint": "Собаки у школы на Чехова", "label": "answer",
     "reply": "Отлов собак у школы на Чехова проведёт МКУ «Служба отлова» завтра утром."},
    {"complaint": COMPLAINT, "reply": FORMULA, "label": "otpiska"},
    {"complaint": COMPLAINT, "reply": POLITE_FORMULA, "label": "otpiska"},
    {"complaint": "Третий день нет воды на Садовой 12", "label": "otpiska",
     "reply": "Благодарим за обращение! Информация передана в ресурсоснабжающую организацию, вопрос на контроле."},
    {"complaint": "Не вывозят мусор с площадки на Мира", "label": "otpiska",
     "reply": "Приносим извинения за неудобства. Ваше обращение будет рассмотрено в установленном порядке."},
    {"complaint": "Не горят фонари на Заводской", "label": "otpiska",
     "reply": "Рекомендуем обратиться в управляющую компанию. Меры будут приняты в ближайшее время."},
    {"complaint": "В поликлинике нет записи к кардиологу", "label": "otpiska",
     "reply": "Спасибо за ваше обращение, ситуация взята на контроль, проводится проверка."},
]  # fmt: skip


class TestReading:
    def test_an_answer_names_the_problem_the_work_the_term_and_who(self) -> None:
        reading = replies.read_reply(COMPLAINT, GOOD)
        assert (reading.mentions_problem, reading.has_action, reading.has_term, reading.has_who) == (True,) * 4
        assert reading.formulas == []
        assert "до 20 мая" in reading.evidence["срок"]
        assert "заделать" in reading.evidence["действие"]

    def test_a_formula_is_named_and_so_is_what_it_lacks(self) -> None:
        reading = replies.read_reply(COMPLAINT, FORMULA)
        assert {"передано", "на контроле", "спасибо за обращение"} <= set(reading.formulas)
        assert not (reading.has_term or reading.has_who or reading.has_action)

    def test_a_polite_formula_about_the_problem_has_no_term(self) -> None:
        reading = replies.read_reply(COMPLAINT, POLITE_FORMULA)
        assert reading.mentions_problem and not reading.has_term and reading.vague_term
        assert "по мере финансирования" in reading.formulas


class TestModel:
    def test_trained_on_labelled_replies_it_tells_them_apart(self, tmp_path: Path) -> None:
        model = replies.train(ROWS)
        good = model.score(COMPLAINT, "Яму у подъезда на Ленина заделает бригада МБУ «Дорожник» до пятницы.")
        bad = model.score(COMPLAINT, "Обращение передано в ответственную службу, вопрос на контроле. Спасибо!")
        assert good.verdict == "answer" and bad.verdict == "otpiska"
        assert good.quality > 0.5 > bad.quality
        assert "укажите срок" in " ".join(bad.suggestions) and not good.suggestions
        model.save(tmp_path / "replies.joblib")
        assert replies.ReplyModel.load(tmp_path / "replies.joblib").version == model.version

    def test_the_command_line_trains_and_evaluates(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        folder = tmp_path / "replies"
        folder.mkdir()
        rows = [dict(row, split="test" if i % 4 == 0 else "train") for i, row in enumerate(ROWS)]
        (folder / "set.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
        model_path = tmp_path / "replies.joblib"
        assert cli.main(["train-replies", "--corpus", str(folder), "--model", str(model_path)]) == 0
        trained = json.loads(capsys.readouterr().out)
        assert trained["rows"] == 3 and 0.0 <= trained["otpiska_f1"] <= 1.0
        assert cli.main(["evaluate-replies", "--file", str(folder / "set.jsonl"), "--model", str(model_path)]) == 0
        assert json.loads(capsys.readouterr().out)["rows"] == len(ROWS)
        assert cli.main(["train-replies", "--corpus", str(tmp_path / "none")]) == 2  # a clear error, not a trace
        assert "no labelled replies" in capsys.readouterr().err


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", nats_enabled=False))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", auth=ServiceAuth("classifier")
        ) as http:
            http.app = app  # type: ignore[attr-defined]  # httpx has no `app`: the fixture keeps it here
            yield http


async def test_the_endpoint_scores_a_reply_with_its_reasons(client: httpx.AsyncClient) -> None:
    client.app.state.replies = replies.train(ROWS)  # type: ignore[attr-defined]  # kept there by the fixture
    answer = await client.post("/v1/replies/score", json={"complaint": COMPLAINT, "reply": FORMULA})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["verdict"] == "otpiska" and body["quality"] < 0.5
    assert "формула: передано" in body["reasons"] and body["suggestions"]
    assert body["evidence"]["формулы"]
    empty = await client.post("/v1/replies/score", json={"complaint": COMPLAINT, "reply": ""})
    assert empty.status_code == 422 and empty.headers["content-type"].startswith("application/problem+json")


async def test_without_a_model_the_endpoint_says_how_to_get_one(client: httpx.AsyncClient) -> None:
    client.app.state.replies = None  # type: ignore[attr-defined]  # kept there by the fixture
    response = await client.post("/v1/replies/score", json={"complaint": COMPLAINT, "reply": GOOD})
    assert response.status_code == 503 and "train-replies" in response.json()["detail"]


def test_the_packaged_model_tells_a_formula_from_an_answer() -> None:
    model = replies.ReplyModel.load(cli.REPLIES_MODEL)
    assert model.score(COMPLAINT, GOOD).verdict == "answer"
    assert model.score(COMPLAINT, FORMULA).verdict == "otpiska"
    assert model.score(COMPLAINT, POLITE_FORMULA).verdict == "otpiska"
    assert model.metrics["otpiska_f1"] >= 0.9  # on the held-out part of the labelled set
