"""The tenant page in a real browser: headless Chromium (Debian's chromium and chromium-driver, which
scripts/debian-packages.sh installs) driven by Selenium against `meterd serve` over the demo store.
Log in, see the chart, download the CSV, switch the language, log out; on a desktop and a phone width.
With METERD_SCREENSHOTS=1 the screenshots are written to docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_service

from meterd.store.demo import TENANT_LOGIN, TENANT_PASSWORD

ROOT = Path(__file__).parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("browser") / "data"
    subprocess.run([sys.executable, "-m", "meterd", "demo", "--data", str(data)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "meterd", "check", "--data", str(data)], capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "meterd", "serve", "--data", str(data), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"meterd serve did not listen: {proc.communicate()[0].decode()[-2000:]}")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def browser(downloads: Path, width: int, height: int, mobile: bool = False):  # type: ignore[no-untyped-def]
    if not CHROMIUM or not CHROMEDRIVER:
        require_service("Chromium", "chromium and chromium-driver are not installed (scripts/debian-packages.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}",
                "--lang=pl-PL"):  # fmt: skip
        options.add_argument(arg)
    if mobile:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0}})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    return driver


def screenshot(driver, name: str, tmp: Path) -> Path:  # type: ignore[no-untyped-def]
    target = ROOT / "docs" / "screenshots" if os.environ.get("METERD_SCREENSHOTS") == "1" else tmp
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    import base64

    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                  "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})  # fmt: skip
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    return path


def log_in(driver, server: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver.get(server + "/")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "pl"
    driver.find_element(By.ID, "login").send_keys(TENANT_LOGIN)
    driver.find_element(By.ID, "password").send_keys(TENANT_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    try:
        wait_for(lambda: "D2 — ul. Długa 5/2" in driver.page_source)
    except AssertionError:
        raise AssertionError(f"no account page after logging in: {driver.current_url}\n{driver.page_source[:3000]}") from None


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_a_tenant_logs_in_sees_the_chart_downloads_switches_language_and_logs_out(server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = browser(downloads, 1280, 900)
    try:
        log_in(driver, server)
        bars = driver.find_elements(By.CSS_SELECTOR, "svg.chart.wide rect.now")
        assert len(bars) >= 4 and all(float(b.get_attribute("height") or 0) >= 0 for b in bars)
        assert any(float(b.get_attribute("height") or 0) > 5 for b in bars)  # months with use are drawn
        chart = driver.find_element(By.CSS_SELECTOR, "svg.chart.wide")
        assert chart.get_attribute("role") == "img" and chart.size["width"] > 300
        assert not driver.find_element(By.CSS_SELECTOR, "svg.chart.narrow").is_displayed()  # the phone's drawing
        assert "Zużycie wody w m³" in chart.find_element(By.CSS_SELECTOR, "title").get_attribute("textContent")
        notices = driver.find_elements(By.CSS_SELECTOR, ".notice")
        assert notices and "Brak odczytów" in notices[0].text
        # the page works under its Content-Security-Policy: the style sheet applies, nothing was blocked
        header = driver.find_element(By.TAG_NAME, "header")
        assert header.value_of_css_property("border-bottom-width") == "2px"
        assert notices[0].value_of_css_property("border-left-width") == "8px"
        blocked = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
        assert not blocked, blocked
        screenshot(driver, "account-desktop.png", tmp_path)
        driver.find_element(By.ID, "csv-D2").click()
        wait_for(lambda: any(p.suffix == ".csv" for p in downloads.iterdir()), 20)
        csv_file = next(p for p in downloads.iterdir() if p.suffix == ".csv")
        wait_for(lambda: csv_file.stat().st_size > 0)
        raw = csv_file.read_bytes()  # from a Polish page: the pl dialect, as Polish Excel opens it
        lines = raw.decode("utf-8-sig").split("\r\n")
        assert csv_file.name == "odczyty-D2.csv" and raw.startswith(b"\xef\xbb\xbf") and len(lines) > 100
        assert lines[0].startswith("meter_id;medium;measured_at") and "," in lines[1].split(";")[3]
        driver.find_element(By.LINK_TEXT, "English").click()
        wait_for(lambda: "Water meter readings" in driver.page_source)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        assert "Monthly consumption" in driver.page_source and "No readings from meter" in driver.page_source
        driver.get(server + "/")  # the choice is remembered
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        driver.find_element(By.XPATH, "//button[normalize-space()='Log out']").click()
        wait_for(lambda: driver.find_elements(By.ID, "password"))
        driver.get(server + "/api/v1/premises")
        assert "log in first" in driver.page_source or "session" in driver.page_source
    finally:
        driver.quit()


def test_the_page_fits_a_phone(server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser(tmp_path, 390, 844, mobile=True)
    try:
        log_in(driver, server)
        driver.get(server + "/?lang=pl")  # the other test left the account in English
        width = driver.execute_script("return document.documentElement.clientWidth")
        scroll = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400 and scroll <= width + 1  # nothing sticks out sideways
        chart = driver.find_element(By.CSS_SELECTOR, "svg.chart.narrow")
        assert chart.is_displayed() and not driver.find_element(By.CSS_SELECTOR, "svg.chart.wide").is_displayed()
        assert 300 <= chart.size["width"] <= width
        # the chart's text is at least 12 px on the screen, and no label overlaps the next one
        sizes = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg.chart.narrow text')).map(t => {"
            " const r = t.getBoundingClientRect(); return [r.height, r.left, r.right, t.textContent]; })"
        )
        assert sizes and min(h for h, *_ in sizes) >= 12, sizes
        ticks = sorted((left, right) for _, left, right, text in sizes if text.isdigit() and len(text) == 2)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ticks)), ticks
        # the tables' numbers and dates are never wrapped inside, and no table scrolls sideways
        wrapped = driver.execute_script(
            "return Array.from(document.querySelectorAll('td.num, td.when, .nowrap')).filter(c => {"
            " const r = document.createRange(); r.selectNodeContents(c);"
            " const tops = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top)));"
            " return tops.size > 1; }).map(c => c.textContent)"
        )
        assert not wrapped, wrapped
        sideways = driver.execute_script(
            "return Array.from(document.querySelectorAll('.scroll')).filter(d => d.scrollWidth > d.clientWidth + 1)"
            ".map(d => [d.scrollWidth, d.clientWidth])"
        )
        assert not sideways, sideways
        screenshot(driver, "account-phone.png", tmp_path)
    finally:
        driver.quit()


def test_a_tenant_reports_a_reading_on_a_phone_and_staff_accept_it_at_a_desk(server: str, tmp_path: Path) -> None:
    """The report form fits a 390 px phone: a reading typed with a decimal comma and a photo go in, wait
    for review; staff see it on the worklist (1280 px) and accept it; the tenant sees it accepted."""
    from selenium.webdriver.common.by import By

    from meterd.store.demo import STAFF_LOGIN, STAFF_PASSWORD

    photo = tmp_path / "tarcza.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    phone = browser(tmp_path, 390, 844, mobile=True)
    try:
        log_in(phone, server)
        phone.get(server + "/?lang=pl")
        last = phone.find_element(By.XPATH, "//td[strong[text()='31000099']]/following-sibling::td[1]").text
        value = f"{float(last.replace(',', '.')) + 0.25:.3f}".replace(".", ",")
        from selenium.webdriver.support.ui import Select

        Select(phone.find_element(By.ID, "rm-D2")).select_by_value("31000099")
        phone.find_element(By.ID, "rv-D2").send_keys(value)
        phone.find_element(By.ID, "rp-D2").send_keys(str(photo))
        width = phone.execute_script("return document.documentElement.clientWidth")
        assert phone.execute_script("return document.documentElement.scrollWidth") <= width + 1
        phone.find_element(By.CSS_SELECTOR, "form.report button[type=submit]").click()
        try:
            wait_for(lambda: "czeka na sprawdzenie przez administrację" in phone.page_source)
        except AssertionError:
            raise AssertionError(phone.current_url + "\n" + phone.page_source[-3000:]) from None
        assert "czeka na sprawdzenie" in phone.find_element(By.XPATH, "//caption[text()='Zgłoszone odczyty']/..").text
        screenshot(phone, "report-phone.png", tmp_path)
    finally:
        phone.quit()
    desk = browser(tmp_path, 1280, 900)
    try:
        desk.get(server + "/")
        desk.find_element(By.ID, "login").send_keys(STAFF_LOGIN)
        desk.find_element(By.ID, "password").send_keys(STAFF_PASSWORD)
        desk.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        wait_for(lambda: "/staff" in desk.current_url)
        desk.get(server + "/staff/anomalies?age=all")
        assert "Odczyty zgłoszone przez lokatorów" in desk.page_source and "wyciek" in desk.page_source
        screenshot(desk, "staff-worklist.png", tmp_path)
        desk.find_element(By.CSS_SELECTOR, "form[action^='/staff/tenant-readings/'] input[name=comment]").send_keys("zgodne")
        desk.find_element(By.CSS_SELECTOR, "form[action^='/staff/tenant-readings/'] button[value=accepted]").click()
        wait_for(lambda: "Odczyty zgłoszone przez lokatorów" not in desk.page_source)
        desk.get(server + "/staff/coverage?since=3650d")
        assert "Zasięg radiowy" in desk.page_source
        screenshot(desk, "staff-coverage.png", tmp_path)
    finally:
        desk.quit()
    again = browser(tmp_path, 1280, 900)
    try:
        log_in(again, server)
        assert "przyjęty: zgodne" in again.page_source
    finally:
        again.quit()
