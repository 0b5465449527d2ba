"""A headless Chromium driven by Selenium, for the web console's tests and screenshot.

Only the system's browser and driver are used (Debian's ``chromium`` and
``chromium-driver``): the driver's path is given explicitly, so Selenium
Manager never runs, and ``SE_OFFLINE`` forbids it to download anything in
case it would. Each browser gets a fresh, empty profile directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("BUCKETQ_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("BUCKETQ_CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALL_HINT = (
    "as root: apt-get update && apt-get install -y chromium chromium-driver "
    "(or set BUCKETQ_CHROMIUM and BUCKETQ_CHROMEDRIVER), and pip install -e '.[test]' for selenium"
)
#: Flags that work headless as root in a container, with nothing fetched in the background.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def missing_browser() -> str | None:
    """Why no browser can run here, or None when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"selenium is not installed; {INSTALL_HINT}"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"{path} is missing; {INSTALL_HINT}"
    return None


@contextmanager
def chromium(
    width: int = 1280, height: int = 800, extra_flags: tuple[str, ...] = ()
) -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile, quit on exit."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="bucketq-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, *extra_flags):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def browser_errors(driver: Any) -> list[str]:
    """The page's console errors since the last call (CSP violations, exceptions)."""
    return [
        entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"
    ]
