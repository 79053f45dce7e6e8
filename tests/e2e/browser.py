"""A real Chromium (Debian's `chromium` and `chromium-driver`, driven by selenium) for the
console's browser tests and its screenshots. Every wait is on a condition, never a sleep."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 30.0
"""Long enough for a loaded 2-core machine; a wait ends as soon as its condition holds."""


def chromium(width: int = 1400, height: int = 1000) -> WebDriver:
    """Headless Chromium in Chinese, from Debian's packages (never a downloaded browser)."""
    binary = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        raise RuntimeError("chromium and chromium-driver are missing: make test installs them")
    options = Options()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--lang=zh-CN",
        "--hide-scrollbars",
        "--font-render-hinting=none",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    found = webdriver.Chrome(service=Service(driver), options=options)
    found.set_page_load_timeout(60)
    return found


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    """Waits until `condition` holds (a truthy value, returned); says `what` if it never does."""

    def holds(d: WebDriver) -> Any:
        try:
            return condition(d)
        except (StaleElementReferenceException, WebDriverException):
            return False

    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.2).until(holds, message=what)


def find(driver: WebDriver, css: str) -> WebElement:
    return wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, css), f"an element {css}")


def text_of(driver: WebDriver, css: str) -> str:
    return find(driver, css).text


def until_text(driver: WebDriver, css: str, text: str) -> None:
    """Waits until an element `css` reads `text`: after a click that sends a form, the page
    still showing may have an element `css` of its own (the last action's) until the answer
    replaces it."""
    wait(
        driver,
        lambda d: d.find_element(By.CSS_SELECTOR, css).text == text,
        f"an element {css} reading {text!r}",
    )


def shows(driver: WebDriver, text: str) -> bool:
    return text in driver.find_element(By.TAG_NAME, "body").text


def until_shown(driver: WebDriver, text: str, reload: bool = False) -> None:
    """Waits until the page shows `text`; with `reload`, reloading it meanwhile (for what
    arrives through Kafka a moment later)."""

    def check(d: WebDriver) -> bool:
        if shows(d, text):
            return True
        if reload:
            d.refresh()
        return False

    wait(driver, check, f"the page to show {text!r}")


def sign_in(driver: WebDriver, base: str, token: str, then: str = "/") -> None:
    """Signs in as a person does: the token pasted into the sign-in page, Enter."""
    driver.delete_all_cookies()
    driver.get(f"{base}/signin?next={then}")
    box = find(driver, "#f-token")
    box.send_keys(token)
    box.submit()
    wait(driver, lambda d: "/signin" not in d.current_url, "signing in")
