"""The recruiter's whole job in real headless Chromium: sign in, open a requisition, see its applicants by band,
play an answer of each, record a reasoned decision for each; the tracking system receives every decision at a
loopback webhook (signature checked), the export holds them, and an auditor reads every step in the log."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from sales_ability.review.app import ReviewSettings, create_app
from tests.browser import chromium, serve
from tests.review.conftest import PASSWORD
from tests.review.loopback import SECRET, Receiver

SCREENSHOT_DIR_ENV = "DOCS_SCREENSHOT_DIR"  # make docs-screenshot: where the README's screenshot goes


@pytest.fixture()
def review(workspace: dict):
    tracking = Receiver()
    app = create_app(ReviewSettings(database_url=workspace["url"], webhook_url=tracking.url, webhook_secret=SECRET,
                                    webhook_every_s=0.3, cookie_secure=False))
    for url in serve(app):
        yield url, tracking
    tracking.close()


@pytest.fixture()
def browser(tmp_path: Path):
    driver = chromium(tmp_path / "review-profile")
    yield driver
    driver.quit()


def _sign_in(browser, wait, url: str, username: str) -> None:
    browser.get(f"{url}/signin")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "signin").click()
    wait.until(ec.title_contains("Requisitions"))


def test_a_recruiter_reviews_by_band_watches_and_decides_and_the_tracking_system_receives_it(
        review, browser, tmp_path: Path) -> None:
    url, tracking = review
    wait = WebDriverWait(browser, 30)
    _sign_in(browser, wait, url, "rita")
    assert "REQ-2" not in browser.page_source  # only her requisition
    browser.find_element(By.LINK_TEXT, "REQ-1").click()
    wait.until(ec.presence_of_element_located((By.ID, "applicants")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#applicants tbody tr[data-applicant]")
    bands = {r.get_attribute("data-applicant"): r.find_element(By.CSS_SELECTOR, ".band").text for r in rows}
    assert bands == {"ann_k": "above the pool's median", "fay_k": "above the pool's median", "cyd_k": "overlaps the median",
                     "dan_k": "overlaps the median", "eve_k": "overlaps the median", "bob_k": "below the pool's median"}
    shots = tmp_path / "screenshots"
    shots.mkdir()
    assert browser.save_screenshot(str(shots / "review_requisition.png"))
    choices = {"ann_k": ("advance", "role_experience"), "fay_k": ("advance", "communication"), "cyd_k": ("hold", "second_opinion"),
               "dan_k": ("hold", "second_opinion"), "eve_k": ("reject", "requirements_not_met"), "bob_k": ("reject", "incomplete_answers")}
    for applicant, (decision, reason) in choices.items():
        browser.find_element(By.LINK_TEXT, applicant).click()
        video = wait.until(ec.presence_of_element_located((By.ID, "answer-1")))
        browser.execute_script("arguments[0].muted = true; return arguments[0].play();", video)
        wait.until(lambda b, v=video: v.get_attribute("data-logged") == "yes")  # the server logged the play
        assert browser.execute_script("return arguments[0].currentTime > 0 || arguments[0].ended;", video)
        if applicant == "ann_k":
            assert browser.save_screenshot(str(shots / "review_applicant.png"))
        browser.find_element(By.ID, f"decision-{decision}").click()
        Select(browser.find_element(By.ID, "reason")).select_by_value(reason)
        browser.find_element(By.ID, "note").send_keys(f"watched answer 1 of {applicant}")
        browser.find_element(By.ID, "record").click()
        wait.until(ec.presence_of_element_located((By.ID, "applicants")))
    decided = {r.get_attribute("data-applicant"): r.find_elements(By.TAG_NAME, "td")[4].text
               for r in browser.find_elements(By.CSS_SELECTOR, "#applicants tbody tr[data-applicant]")}
    assert all(decided[a].startswith(d) and "no answer played" not in decided[a] for a, (d, _) in choices.items())
    exported = browser.execute_async_script(
        "const done = arguments[0]; fetch('/requisitions/REQ-1/export.json').then(r => r.json()).then(done);")
    assert {a["applicant_id"]: a["decision"] for a in exported["applicants"]} == {a: d for a, (d, _) in choices.items()}
    deadline = time.monotonic() + 30  # the background sender posts every 0.3 s
    while time.monotonic() < deadline and sum(e["kind"] == "decision" for e in tracking.events.values()) < len(choices):
        time.sleep(0.2)
    sent = {e["applicant_id"]: e for e in tracking.events.values() if e["kind"] == "decision"}
    assert {a: e["decision"] for a, e in sent.items()} == {a: d for a, (d, _) in choices.items()}
    assert sent["ann_k"]["ats_reference"] == "ATS-101" and sent["ann_k"]["band"] == "above" and sent["ann_k"]["model_version"] == "3"
    assert tracking.refused == 0 and {e["kind"] for e in tracking.events.values()} == {"decision", "applicant.scored"}
    browser.find_element(By.CSS_SELECTOR, "nav.review button").click()  # sign out
    wait.until(ec.title_contains("Sign in"))
    _sign_in(browser, wait, url, "audrey")
    browser.get(f"{url}/audit/events")
    log = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")]
    steps = {(row[1], row[2], row[4]) for row in log}
    for applicant in choices:
        assert ("rita", "answer.played", applicant) in steps and ("rita", "decision", applicant) in steps
    assert ("rita", "export", "") in steps and ("rita", "sign_out", "") in steps
    browser.get(f"{url}/audit/oversight")
    assert "6 decisions: advance 2, hold 2, reject 2" in " ".join(browser.find_element(By.TAG_NAME, "body").text.split())
    if os.environ.get(SCREENSHOT_DIR_ENV):
        for shot in shots.iterdir():
            shutil.copy(shot, Path(os.environ[SCREENSHOT_DIR_ENV]) / shot.name)
