"""The operator console in a real browser (Debian's chromium, driven by Playwright), against the whole
system started as `make run` starts it with its demo data: sign-in, the queue and its live update,
an incident with its evidence, taking it, replying, correcting the classification, analytics.

Screenshots of the main pages go to CONSOLE_SCREENSHOTS (docs/screenshots when set so, for the README)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from .test_pipeline import KEY, RunningSystem, _metric, _start, _stop, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make install installs it)"),
]
# As root and without a network beyond loopback: no sandbox, no background calls home.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip
WAIT_MS = 30_000
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    ports = {name: free_port() for name in ("nats", "gateway", "collector", "classifier", "routing", "console")}
    running = _start(tmp_path_factory.mktemp("console") / "var", ports, demo=True)
    # The demo posts are classified and routed in the background: wait for assigned incidents.
    deadline = time.monotonic() + 90
    with httpx.Client(base_url=running.gateway, headers={"X-API-Key": KEY}, timeout=5) as client:
        while time.monotonic() < deadline:
            items = client.get("/v1/incidents", params={"status": "assigned", "limit": 5}).json()["items"]
            if len(items) >= 3:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the demo incidents were not assigned within 90 s")
    yield running
    if running.process.poll() is None:
        _stop(running)


@pytest.fixture(scope="module")
def saratov_key(system: RunningSystem) -> str:
    """What a federal administrator does for a region's control centre: a regional_admin key for 64."""
    response = httpx.post(
        f"{system.gateway}/v1/admin/keys",
        json={"name": "ЦУР Саратовской области", "role": "regional_admin", "regions": ["64"]},
        headers={"X-API-Key": KEY},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["api_key"])


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def console_url(system: RunningSystem) -> str:
    return f"http://127.0.0.1:{system.ports['console']}"


def shoot(page: object, name: str) -> None:
    folder = os.environ.get("CONSOLE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)  # type: ignore[attr-defined]


def accessibility_problems(page: object) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it stands."""
    page.add_script_tag(path=str(AXE))  # type: ignore[attr-defined]
    result = page.evaluate(  # type: ignore[attr-defined]
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def signed_in_page(browser: object, system: RunningSystem, key: str = KEY) -> object:
    # bypass_csp: only so that the test can inject axe-core; the console forbids injected scripts.
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1400, "height": 900}, locale="ru-RU", bypass_csp=True
    )
    page = context.new_page()
    page.goto(console_url(system) + "/")
    assert "/sign-in" in page.url  # no session: the queue sends you to sign in
    page.get_by_label("API-ключ", exact=True).fill(key)
    page.get_by_role("button", name="Войти").first.click()
    page.wait_for_url(console_url(system) + "/")
    return page


def expect_accepted(page: object) -> None:
    """The action was accepted (the notice), or the test fails with the error the page shows."""
    page.locator("[data-testid=done], [data-testid=action-error]").first.wait_for(timeout=WAIT_MS)  # type: ignore[attr-defined]
    errors = page.get_by_test_id("action-error")  # type: ignore[attr-defined]
    assert errors.count() == 0, errors.inner_text()


def wait_live(page: object, system: RunningSystem, locator: object, what: str) -> None:
    """Wait for what a live update shows; on a timeout fail with what the page, the stream and the
    system knew (the state behind the page, the live-status line, the services' warnings)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.wait_for(timeout=WAIT_MS)  # type: ignore[attr-defined]
    except PlaywrightTimeout:
        incident_id = page.locator("#incident-body").get_attribute("data-incident")  # type: ignore[attr-defined]
        state = httpx.get(f"{system.gateway}/v1/incidents/{incident_id}", headers={"X-API-Key": KEY}, timeout=10)
        history = [(h["seq"], h["type"], h.get("to_status")) for h in state.json().get("history", [])]
        warnings = [line for line in system.output if "WARNING" in line or "ERROR" in line][-20:]
        raise AssertionError(
            f"{what} did not show within {WAIT_MS} ms. Live status: "
            f"{page.locator('#live-status').inner_text()!r}; since: "  # type: ignore[attr-defined]
            f"{page.locator('#incident-body').get_attribute('data-since')!r}; "  # type: ignore[attr-defined]
            f"the gateway's incident: {state.json().get('status')} {history}; warnings: {warnings}"
        ) from None


def test_sign_in_refuses_a_wrong_key_and_keeps_you_out(browser: object, system: RunningSystem) -> None:
    page = browser.new_page(bypass_csp=True)  # type: ignore[attr-defined]
    page.goto(console_url(system) + "/analytics")
    assert "/sign-in" in page.url
    assert accessibility_problems(page) == []
    page.get_by_label("API-ключ", exact=True).fill("not-a-key")
    page.get_by_role("button", name="Войти").first.click()
    page.get_by_role("alert").filter(has_text="не подошли").wait_for(timeout=WAIT_MS)
    page.goto(console_url(system) + "/")
    assert "/sign-in" in page.url
    page.close()


def test_federal_user_sees_every_region(browser: object, system: RunningSystem) -> None:
    page = signed_in_page(browser, system)
    page.get_by_test_id("queue").locator("tbody tr[data-incident]").first.wait_for(timeout=WAIT_MS)
    assert "все регионы" in page.get_by_test_id("who").inner_text()
    regions = page.locator("#queue-table tbody tr[data-incident]").all_inner_texts()
    assert any("Саратовская" not in row for row in regions), "the demo has incidents outside region 64"
    page.context.close()  # type: ignore[attr-defined]


STREETS = [
    "Тельмана", "Волжский проспект", "Степная", "Пушкина", "Маршала Василевского", "Комсомольская",
    "Полиграфическая", "Нестерова", "Колотилова", "Строителей", "Горького", "Урицкого",
]  # fmt: skip


def test_a_surge_of_complaints_raises_a_banner_live(browser: object, system: RunningSystem, saratov_key: str) -> None:
    page = signed_in_page(browser, system, saratov_key)
    page.get_by_test_id("queue").locator("tbody tr[data-incident]").first.wait_for(timeout=WAIT_MS)
    page.locator("#live-status").filter(has_text="включены").wait_for(timeout=WAIT_MS)
    # Twelve households of one town write about the heating within minutes: a surge for that place.
    for number, street in enumerate(STREETS):
        post = {
            "source_type": "push",
            "external_id": f"surge-{number}",
            "text": f"Энгельс, улица {street}, дом {number + 3}: третий день нет отопления, батареи ледяные, "
            "в квартире +14, дети мёрзнут. Управляющая компания трубку не берёт!",
            "author": {"id": f"surge-u{number}", "name": f"Житель {number}"},
            "published_at": datetime.now(UTC).isoformat(),
        }
        response = httpx.post(f"{system.collector}/v1/posts", json=post, headers=system.collector_auth(), timeout=10)
        assert response.status_code == 200 and response.json()["accepted"] == 1, response.text
    # The banner appears without a reload (the alert arrives over the live stream) and links the incidents.
    banner = page.get_by_test_id("alerts")
    banner.wait_for(timeout=60_000)
    assert "Энгельс" in banner.inner_text() and "ЖКХ" in banner.inner_text()
    assert banner.locator("a[href^='/incidents/']").count() >= 1
    shoot(page, "surge")
    page.context.close()  # type: ignore[attr-defined]
    # Every batch went through whole: none failed and was retried one post at a time.
    for service, consumer in (("routing", "routing-post-classified"), ("classifier", "classifier-post-collected")):
        assert _metric(system, service, "incidents_consumer_split_batches_total", consumer=consumer) == 0


def test_queue_incident_take_reply_correct_and_analytics(
    browser: object, system: RunningSystem, saratov_key: str
) -> None:
    page = signed_in_page(browser, system, saratov_key)
    # The queue: only region 64's incidents, sorted by priority, with their clocks.
    queue = page.get_by_test_id("queue")
    queue.locator("tbody tr[data-incident]").first.wait_for(timeout=WAIT_MS)
    assert "регионы 64" in page.get_by_test_id("who").inner_text()
    assert all("Саратовская" in row for row in queue.locator("tbody tr[data-incident]").all_inner_texts())
    assert page.locator("td.clock").count() > 0
    assert accessibility_problems(page) == []
    shoot(page, "queue")

    # A filter: only roads (the table is replaced in place, the address keeps the filter).
    page.get_by_label("Категория").select_option("roads")
    page.wait_for_url("**category=roads**")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#queue-table tbody tr[data-incident]')].length > 0 &&"
        " [...document.querySelectorAll('#queue-table tbody tr[data-incident]')]"
        ".every(tr => tr.innerText.includes('Дороги'))",
        timeout=WAIT_MS,
    )

    # An incident: its posts with the words that decided the classification marked, the assignment's reason.
    page.locator("#queue-table tbody tr[data-incident] a").first.click()
    page.get_by_test_id("post").first.wait_for(timeout=WAIT_MS)
    assert page.locator("blockquote.text mark").count() > 0
    assert page.get_by_test_id("explanation").inner_text().strip() not in ("", "—")
    assert accessibility_problems(page) == []
    shoot(page, "incident")

    # Take it: the page updates itself when routing has done it (live, over the gateway's SSE).
    page.get_by_role("button", name="Взять в работу").click()
    expect_accepted(page)
    wait_live(page, system, page.get_by_test_id("status").filter(has_text="В работе"), "«В работе»")

    # Correct the classification: it is recorded in the incident's history (and becomes classifier feedback).
    page.get_by_label("Срочность", exact=True).last.select_option("high")
    page.get_by_role("button", name="Исправить").click()
    expect_accepted(page)
    page.get_by_test_id("history").filter(has_text="исправлена классификация").wait_for(timeout=WAIT_MS)
    # Reply: the answer and its publishing appear on the incident.
    # (The reply guard holds a boilerplate answer; this one says what was done, when and by whom.)
    page.get_by_label("Текст ответа").fill(
        "Здравствуйте! Бригада выехала по вашему обращению 3 декабря: повреждение устранено, работы закончены "
        "к 18:00. Если проблема повторится, напишите нам, ответственный — Петров И. С., комитет дорожного хозяйства."
    )
    page.get_by_role("button", name="Отправить ответ").click()
    expect_accepted(page)
    page.get_by_test_id("reply").wait_for(timeout=WAIT_MS)
    assert "Бригада выехала" in page.get_by_test_id("reply").inner_text()

    shoot(page, "incident-after")

    # Analytics: charts drawn by Chart.js, the rating with its formula.
    page.get_by_role("link", name="Аналитика").click()
    page.get_by_test_id("rating").wait_for(timeout=WAIT_MS)
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-weeks') && Chart.getChart('chart-regions')")
    assert int(page.get_by_test_id("kpi-incidents").inner_text()) > 0
    assert "(n·p + m·p₀)" in page.get_by_test_id("rating").inner_text()
    assert accessibility_problems(page) == []
    shoot(page, "analytics")
    page.context.close()
