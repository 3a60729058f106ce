"""Fixtures for the console's browser tests: the real release binary (the Python client's
``Server`` fixture class, reused) and headless Chromium driven over WebDriver (Selenium,
with Debian's ``chromium`` and ``chromium-driver``; ``scripts/browser.sh`` installs them).

Screenshots of each page go to ``target/console/`` for review.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "target" / "console"

# The server process class of the client's tests: one way to start the binary.
_spec = importlib.util.spec_from_file_location(
    "client_server_fixture", REPO_ROOT / "clients" / "python" / "tests" / "conftest.py"
)
assert _spec and _spec.loader
_client_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_client_conftest)
Server = _client_conftest.Server

ADMIN_KEY = "console-admin-key"
ACME_KEY = "console-acme-key"


def _find(env: str, *names: str) -> str:
    configured = os.environ.get(env)
    if configured:
        return configured
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"no {names[0]} found: run scripts/browser.sh (./just test does) or set {env}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def console_server() -> Iterator[Server]:
    server = Server("console", {"MEMORY_API_KEYS": f"{ADMIN_KEY},{ACME_KEY}:acme"})
    try:
        yield server.wait_healthy()
    finally:
        server.stop()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = _find("CHROMIUM_BIN", "chromium", "chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=_find("CHROMEDRIVER_BIN", "chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.implicitly_wait(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
