"""The console in a real browser against the real release binary and real data: every page
loads without console errors, search shows each score component, retention previews, health
shows live figures, an admin can erase (after confirming), and a tenant-bound key sees only
its tenant."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import List

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ACME_KEY, ADMIN_KEY, SCREENSHOTS

WAIT = 20.0

ACME = [
    ("trip", "We are flying to Lisbon in May for my sister's wedding", 45),
    ("trip", "Book the hotel near the river, my mother uses a wheelchair", 44),
    ("pets", "I adopted a cat called Miso last week and she loves cardboard boxes", 2),
    ("pets", "Miso needs her vaccination at the vet on Thursday", 1, 0.95),
    ("pets", "ok", 0),
]
GLOBEX = [("ops", "Rotate the production database keys every quarter", 0)]


def _import(server, key: str, tenant: str, items) -> None:
    now = datetime.now(timezone.utc)
    body = {
        "tenant_id": tenant,
        "messages": [
            {
                "conversation_id": item[0],
                "role": "user",
                "content": item[1],
                "created_at": (now - timedelta(days=item[2])).isoformat(),
                "metadata": {"topic": item[0]},
                **({"importance_override": item[3]} if len(item) > 3 else {}),
            }
            for item in items
        ],
    }
    r = httpx.post(f"{server.base_url}/v1/messages/batch", json=body,
                   headers={"x-api-key": key}, timeout=60)
    assert r.status_code == 207, r.text
    assert r.json()["failed"] == 0, r.text


@pytest.fixture(scope="module")
def data(console_server):
    _import(console_server, ADMIN_KEY, "acme", ACME)
    _import(console_server, ADMIN_KEY, "globex", GLOBEX)
    return console_server


def wait_for(driver, predicate, what: str):
    return WebDriverWait(driver, WAIT).until(lambda d: predicate(d), message=what)


def by_id(driver, element_id: str):
    return driver.find_element(By.ID, element_id)


def texts(driver, selector: str) -> List[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def severe_log_entries(driver) -> List[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def connect(driver, server, key: str) -> None:
    driver.get(f"{server.base_url}/console")
    by_id(driver, "api-key").send_keys(key)
    by_id(driver, "connect").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#tenants .tenant"),
             "the tenant list")


def shot(driver, name: str) -> None:
    path = SCREENSHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), path


def test_admin_browses_searches_previews_and_watches_health(browser, data):
    d = browser
    connect(d, data, ADMIN_KEY)
    assert by_id(d, "whoami").text == "admin key"
    tenants = [e.get_attribute("data-tenant") for e in d.find_elements(By.CSS_SELECTOR, "#tenants .tenant")]
    assert tenants == ["acme", "globex"]

    # Browse: tenant -> conversations (most recent first) -> messages (newest first).
    d.find_element(By.CSS_SELECTOR, '#tenants .tenant[data-tenant="acme"]').click()
    wait_for(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#conversations .conversation")) == 2,
             "acme's two conversations")
    conversations = [e.get_attribute("data-conversation")
                     for e in d.find_elements(By.CSS_SELECTOR, "#conversations .conversation")]
    assert conversations == ["pets", "trip"]
    assert by_id(d, "erase-tenant").is_displayed(), "an admin may erase"
    d.find_element(By.CSS_SELECTOR, '#conversations .conversation[data-conversation="pets"]').click()
    wait_for(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#messages tbody tr.message")) == 3,
             "pets' three messages")
    rows = d.find_elements(By.CSS_SELECTOR, "#messages tbody tr.message")
    assert "ok" == rows[0].find_elements(By.TAG_NAME, "td")[2].text, "newest first"
    assert "Miso" in rows[2].text
    assert "0.95" in rows[1].text and "(override)" in rows[1].text, rows[1].text
    assert "(override)" not in rows[2].text
    assert "embedded" in rows[2].text and '"topic"' in rows[2].text
    assert by_id(d, "erase-conversation").is_displayed()
    shot(d, "browse")

    # Search: every component of every result is drawn as a bar.
    by_id(d, "tab-search").click()
    Select(by_id(d, "search-tenant")).select_by_value("acme")
    by_id(d, "search-query").send_keys("what is the name of my cat?")
    by_id(d, "search-submit").click()
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .result"), "results")
    results = d.find_elements(By.CSS_SELECTOR, "#results .result")
    assert "Miso" in results[0].text, results[0].text
    for r in results:
        components = {b.get_attribute("data-component"): b.text
                      for b in r.find_elements(By.CSS_SELECTOR, ".bar")}
        assert set(components) == {"score", "relevance", "similarity", "lexical", "fusion",
                                   "importance", "recency"}, components
        for name, value in components.items():
            assert 0.0 <= float(value) <= 1.0, (name, value)
    shot(d, "search")
    by_id(d, "show-json").click()
    raw = json.loads(by_id(d, "raw-json").text)
    assert raw["mode"] == "hybrid" and len(raw["items"]) == len(results)
    assert "Miso" in raw["items"][0]["content"]
    shot(d, "search-json")

    # Nothing relevant: an empty answer that says so.
    query = by_id(d, "search-query")
    query.clear()
    query.send_keys("recipe for banana bread")
    by_id(d, "search-submit").click()
    wait_for(d, lambda d: "nothing relevant" in by_id(d, "search-summary").text, "nothing relevant")
    assert not d.find_elements(By.CSS_SELECTOR, "#results .result")

    # Retention: the policy, the counts and the two old trip messages in the sample.
    by_id(d, "tab-retention").click()
    Select(by_id(d, "retention-tenant")).select_by_value("acme")
    by_id(d, "retention-preview").click()
    wait_for(d, lambda d: by_id(d, "retention-archive-count").text not in ("", "—"),
             "the preview")
    assert "30" in by_id(d, "retention-policy").text
    sample = texts(d, "#retention-sample tbody tr")
    assert len(sample) == int(by_id(d, "retention-archive-count").text)
    assert "Lisbon" in sample[0] and "age" in sample[0], sample
    shot(d, "retention")

    # Health: status, and live figures after two polls.
    by_id(d, "tab-health").click()
    wait_for(d, lambda d: "ok" in by_id(d, "health-status").text, "health")
    assert int(by_id(d, "fig-ingested").text) >= len(ACME) + len(GLOBEX)
    assert by_id(d, "fig-pending").text == "0"
    wait_for(d, lambda d: by_id(d, "fig-rate").text not in ("", "—"), "a request rate")
    float(by_id(d, "fig-rate").text)
    shot(d, "health")

    assert severe_log_entries(d) == []


def test_admin_erases_a_conversation_after_confirming(browser, data):
    d = browser
    connect(d, data, ADMIN_KEY)
    d.find_element(By.CSS_SELECTOR, '#tenants .tenant[data-tenant="globex"]').click()
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#conversations .conversation"),
             "globex's conversation")
    d.find_element(By.CSS_SELECTOR, '#conversations .conversation[data-conversation="ops"]').click()
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages tbody tr.message"), "messages")
    # Dismissing the confirmation erases nothing.
    by_id(d, "erase-conversation").click()
    WebDriverWait(d, WAIT).until(lambda d: d.switch_to.alert).dismiss()
    r = httpx.get(f"{data.base_url}/v1/messages", params={"tenant_id": "globex"},
                  headers={"x-api-key": ADMIN_KEY})
    assert len(r.json()["messages"]) == 1
    by_id(d, "erase-conversation").click()
    WebDriverWait(d, WAIT).until(lambda d: d.switch_to.alert).accept()
    wait_for(d, lambda d: not d.find_elements(By.CSS_SELECTOR, "#conversations .conversation"),
             "the erased conversation gone")
    r = httpx.get(f"{data.base_url}/v1/messages", params={"tenant_id": "globex"},
                  headers={"x-api-key": ADMIN_KEY})
    assert r.json()["messages"] == []
    assert severe_log_entries(d) == []


def test_a_tenant_bound_key_sees_only_its_tenant(browser, data):
    d = browser
    connect(d, data, ACME_KEY)
    assert "acme" in by_id(d, "whoami").text
    tenants = [e.get_attribute("data-tenant") for e in d.find_elements(By.CSS_SELECTOR, "#tenants .tenant")]
    assert tenants == ["acme"]
    options = [o.get_attribute("value") for o in Select(by_id(d, "search-tenant")).options]
    assert "globex" not in options
    d.find_element(By.CSS_SELECTOR, '#tenants .tenant[data-tenant="acme"]').click()
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#conversations .conversation"),
             "acme's conversations")
    d.find_element(By.CSS_SELECTOR, "#conversations .conversation").click()
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages tbody tr.message"), "messages")
    assert not by_id(d, "erase-tenant").is_displayed(), "no erasure for a bound key"
    assert not by_id(d, "erase-conversation").is_displayed()
    shot(d, "bound-key")
    assert severe_log_entries(d) == []


def test_no_key_is_kept_by_the_page(browser, data):
    d = browser
    connect(d, data, ADMIN_KEY)
    stored = d.execute_script(
        "return [localStorage.length, sessionStorage.length, document.cookie, location.href]")
    assert stored[:3] == [0, 0, ""], stored
    assert ADMIN_KEY not in stored[3]
    # A reload forgets the key: the page asks for it again.
    d.refresh()
    wait_for(d, lambda d: by_id(d, "whoami").text == "not connected", "a fresh page")
    assert by_id(d, "api-key").get_attribute("value") == ""
