"""The page of ``aigc-mark serve`` in a real browser (issue 18).

Debian's headless Chromium, driven by Selenium, uploads a marked picture, an unmarked picture,
a marked recording, a marked clip and a corrupt file through the page of a real server process,
reads the verdicts shown (in English and Chinese), submits feedback, walks the page with the
keyboard, and saves a screenshot of each state (to ``tmp_path``, and to ``$SCREENSHOT_DIR``
when set). Every request the page makes must go to the server itself: nothing from outside.

Skipped when Chromium is not installed, except on CI (``$CI`` set), where that fails.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.server.conftest import SECRET
from tests.support.server import PRODUCER, hosting, running_server
from tests.support.video_clips import make_clip

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
STATIC = Path(__file__).resolve().parents[2] / "marking" / "server" / "static"
VERIFY_TIMEOUT = 180
WINDOW = (1100, 1400)
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
ANY_URL = re.compile(r"https?://[^\s\"'`)<>]*[A-Za-z0-9\[]", re.IGNORECASE)


def _require_chromium() -> None:
    """Skip (fail on CI) unless Debian's chromium and chromedriver are installed."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return
    reason = (
        f"{' and '.join(missing)} not installed: the page's browser test needs Debian's "
        "chromium and chromium-driver (make test installs them)"
    )
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.mark.parametrize(
    ("ci", "outcome"), [("1", pytest.fail.Exception), (None, pytest.skip.Exception)]
)
def test_missing_chromium_fails_on_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str | None, outcome: type
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="chromium-driver"):
        _require_chromium()


# --- the static files themselves ----------------------------------------------------------


@pytest.mark.parametrize("name", ["index.html", "app.js", "app.css"])
def test_static_file_names_no_outside_address(name: str) -> None:
    """No http(s) URL, protocol-relative address or CSS url() that could load from elsewhere."""
    text = (STATIC / name).read_text(encoding="utf-8")
    assert ANY_URL.findall(text) == []
    assert re.findall(r"""(?:src|href|action)\s*=\s*["']?\s*//""", text, re.IGNORECASE) == []
    if name != "app.js":  # style sheets: the page's, and any inline style
        assert re.findall(r"url\(\s*['\"]?(?!data:)", text, re.IGNORECASE) == []
        assert "@import" not in text
        assert "@font-face" not in text  # system fonts only


# --- media, server and browser ---------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, media: dict[str, Path]) -> dict[str, Path]:
    """The server tests' media (tests/server/conftest.py), and a marked clip with sound, so
    the page shows the frames' and the sound's watermark apart (a few seconds to build)."""
    import marking
    from marking import MarkConfig

    folder = tmp_path_factory.mktemp("page-media")
    clip = make_clip(folder / "source.mp4", width=320, height=256, seconds=2.0)
    marking.mark_file(clip, folder / "clip.mp4", MarkConfig(producer=PRODUCER))
    return {
        "marked picture": media["marked_image"],
        "unmarked picture": media["image"],
        "marked recording": media["marked_audio"],
        "marked clip": folder / "clip.mp4",
        "corrupt file": media["corrupt"],
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, keys_file: Path) -> Iterator[dict[str, Any]]:
    """A real ``python -m marking serve`` process on a free port, with a feedback folder and
    the provider's keys (the public key is tried too)."""
    _require_chromium()
    feedback = tmp_path_factory.mktemp("page-feedback")
    args = ["--workers", "1", "--feedback-dir", feedback, "--keys-file", keys_file]
    with running_server(*args) as process:
        origin = process.url.rstrip("/")
        yield {"origin": origin, "url": origin + "/", "feedback": feedback}


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory, server: dict[str, Any]) -> Iterator[Any]:
    """Headless Chromium with a fresh profile, logging every network request."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.add_argument("--lang=en-US")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def page(driver: Any, server: dict[str, Any]) -> Iterator[Any]:
    """The browser, its request log emptied; after the test, no script error was logged."""
    driver.get_log("performance")
    driver.get_log("browser")
    yield driver
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    # The API's 4xx answers are logged by Chromium as failed resources; scripts must not fail.
    assert [entry for entry in errors if "Failed to load resource" not in entry["message"]] == []


def requested_urls(driver: Any) -> list[str]:
    """Every URL the browser asked for since the log was last read, except those of its own
    chrome:// pages (the new-tab page it starts on), which no web page can open."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.requestWillBeSent":
            continue
        params = message["params"]
        if not params.get("documentURL", "").startswith(("chrome://", "chrome-untrusted://")):
            urls.append(params["request"]["url"])
    return urls


def outside(urls: list[str], origin: str) -> list[str]:
    """The URLs that are neither the server's own nor inline (data:, blob:)."""
    own = (origin + "/", "data:", "blob:")
    return [url for url in urls if url != origin and not url.startswith(own)]


def open_page(driver: Any, server: dict[str, Any], lang: str = "en") -> None:
    """Load the page and wait until it has read the server's settings."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(*WINDOW)
    driver.get(f"{server['url']}?lang={lang}")
    WebDriverWait(driver, 30).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "true"
    )


def upload(driver: Any, path: Path) -> str:
    """Give ``path`` to the page's file input; wait for a result or an error and say which."""
    forget_answer(driver)
    driver.find_element("id", "file-input").send_keys(str(path))
    return settle(driver)


def forget_answer(driver: Any) -> None:
    """Blank the verdict and the error shown, so that :func:`settle` waits for new ones."""
    driver.execute_script(
        "for (const id of ['verdict', 'error']) document.getElementById(id).textContent = '';"
    )


def settle(driver: Any) -> str:
    """Wait until the page shows a result or an error, and say which."""
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(d: Any) -> str | None:
        if d.find_element("id", "error").text.strip():
            return "error"
        if d.find_element("id", "result").is_displayed() and d.find_element("id", "verdict").text:
            return "result"
        return None

    return WebDriverWait(driver, VERIFY_TIMEOUT, poll_frequency=0.2).until(settled)


def screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    """A PNG of the whole page into ``tmp_path`` (and ``$SCREENSHOT_DIR`` when set)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WINDOW[0], max(WINDOW[1], int(height) + 40))
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    with Image.open(path) as image:
        assert image.format == "PNG"
    target = os.environ.get("SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / path.name)
    driver.set_window_size(*WINDOW)
    return path


def text_of(driver: Any, element_id: str) -> str:
    return driver.find_element("id", element_id).text.strip()


# --- the tests -------------------------------------------------------------------------------

MARKED = ["marked picture", "marked recording", "marked clip"]


@pytest.mark.parametrize("sample", [*MARKED, "unmarked picture"])
def test_verdict_shown(page: Any, server: dict, files: dict, tmp_path: Path, sample: str) -> None:
    open_page(page, server)
    assert upload(page, files[sample]) == "result"
    assert page.switch_to.active_element.get_attribute("id") == "result-heading"
    assert files[sample].name in text_of(page, "result-heading")
    assert text_of(page, "summary")
    details = text_of(page, "details")
    if sample in MARKED:
        assert text_of(page, "verdict") == "AI marks found"
        assert re.search(r"\b[0-9a-f]{16}\b", details), details
        assert "1 in" in text_of(page, "false-alarm")
        # The page words the false alarm as the server's summary does (records.one_in).
        assert text_of(page, "false-alarm") in text_of(page, "summary")
        assert "1: AI-generated" in details  # the GB 45438 label, with what it means
        assert PRODUCER in details
        assert "the public key (anyone can check it)" in details  # which key, never the key
        assert "Keys tried" in details
        assert text_of(page, "agreement").startswith("They are consistent")
    else:
        assert text_of(page, "verdict") == "No AI mark found"
        assert "1 in" not in text_of(page, "false-alarm")
        assert "No GB 45438 label." in details
    if sample == "marked clip":
        for part in ("In the frames", "In the sound"):
            assert part in details
    assert not page.find_element("id", "error").is_displayed()
    assert SECRET not in page.page_source
    screenshot(page, tmp_path, f"en-{sample.replace(' ', '-')}")
    assert outside(requested_urls(page), server["origin"]) == []


def test_corrupt_file_shows_one_line_error(
    page: Any, server: dict, files: dict, tmp_path: Path
) -> None:
    open_page(page, server)
    assert upload(page, files["corrupt file"]) == "error"
    error = page.find_element("id", "error")
    assert error.get_attribute("role") == "alert"
    message = error.text.strip()
    assert message.startswith("The file could not be read: ")
    assert "\n" not in message
    assert "Traceback" not in message
    assert str(files["corrupt file"].parent) not in message
    assert not page.find_element("id", "result").is_displayed()
    screenshot(page, tmp_path, "en-corrupt-file")
    assert outside(requested_urls(page), server["origin"]) == []


DROP_SCRIPT = """
const transfer = new DataTransfer();
transfer.items.add(new File([arguments[0]], arguments[1], {type: "text/plain"}));
document.getElementById("drop-zone").dispatchEvent(
  new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
"""


def test_dropped_file_is_checked(page: Any, server: dict) -> None:
    """A file dropped on the zone is sent like a picked one (here text: a one-line 415)."""
    open_page(page, server)
    page.execute_script(DROP_SCRIPT, "just some words\n", "notes.txt")
    assert settle(page) == "error"
    message = text_of(page, "error")
    assert message.startswith("Not a picture, recording or video: ")
    assert "\n" not in message
    assert outside(requested_urls(page), server["origin"]) == []


def test_chinese_page(page: Any, server: dict, files: dict, tmp_path: Path) -> None:
    open_page(page, server)
    page.find_element("id", "lang-zh").click()
    html = page.find_element("tag name", "html")
    assert html.get_attribute("lang") == "zh-CN"
    assert page.find_element("id", "lang-zh").get_attribute("aria-pressed") == "true"
    assert "检测" in page.find_element("tag name", "h1").text

    assert upload(page, files["marked picture"]) == "result"
    assert text_of(page, "verdict") == "发现 AI 生成标识"
    assert "分之一" in text_of(page, "false-alarm")
    assert text_of(page, "false-alarm") in text_of(page, "summary")  # records.one_in_zh
    assert "属于 AI 生成合成内容" in text_of(page, "details")
    screenshot(page, tmp_path, "zh-marked-picture")

    page.find_element("id", "lang-en").click()  # the result is shown again, in English
    assert html.get_attribute("lang") == "en"
    assert text_of(page, "verdict") == "AI marks found"
    page.find_element("id", "lang-zh").click()

    assert upload(page, files["unmarked picture"]) == "result"
    assert text_of(page, "verdict") == "未发现 AI 生成标识"
    screenshot(page, tmp_path, "zh-unmarked-picture")

    open_page(page, server, lang="zh")  # ?lang=zh chooses Chinese on its own
    assert page.find_element("tag name", "html").get_attribute("lang") == "zh-CN"
    assert outside(requested_urls(page), server["origin"]) == []


def test_feedback_is_stored(page: Any, server: dict, files: dict, tmp_path: Path) -> None:
    open_page(page, server)
    assert upload(page, files["marked picture"]) == "result"
    verdict_id = text_of(page, "verdict-id")
    assert verdict_id.startswith("v1.")

    page.find_element("id", "feedback-submit").click()  # nothing chosen yet
    assert text_of(page, "feedback-status") == "Choose agree or disagree first."

    page.find_element("id", "feedback-disagree").click()
    comment = "The picture is a photo I took; 测试 comment."
    page.find_element("id", "feedback-comment").send_keys(comment)
    assert text_of(page, "feedback-count").startswith(f"{len(comment)} of 2000")
    page.find_element("id", "feedback-submit").click()

    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, 30).until(lambda d: "Thank you" in text_of(d, "feedback-status"))
    screenshot(page, tmp_path, "en-feedback-sent")
    lines = (server["feedback"] / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    stored = [json.loads(line) for line in lines]
    mine = [entry for entry in stored if entry["verdict_id"] == verdict_id]
    assert len(mine) == 1
    assert mine[0]["agrees"] is False
    assert mine[0]["comment"] == comment
    assert outside(requested_urls(page), server["origin"]) == []


def test_keyboard_reaches_every_control(page: Any, server: dict, files: dict) -> None:
    """Tab walks the language buttons, the file button and the feedback controls in order,
    each with an accessible name; the page has one h1 and headings in order."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(page, server)
    assert upload(page, files["marked clip"]) == "result"
    order: list[str] = []  # one full round of Tab, from wherever focus is (the result heading)
    names: dict[str, str] = {}
    for _ in range(40):
        ActionChains(page).send_keys(Keys.TAB).perform()
        element = page.switch_to.active_element
        key = element.get_attribute("id") or element.tag_name
        if order and key == order[0]:
            break
        order.append(key)
        names[key] = element.accessible_name.strip()
    order = order[order.index("skip-link") :] + order[: order.index("skip-link")]
    expected = [
        "skip-link",
        "lang-en",
        "lang-zh",
        "drop-zone",
        "feedback-agree",
        "feedback-comment",
        "feedback-submit",
    ]
    positions = [order.index(key) for key in expected if key in order]
    assert len(positions) == len(expected), order
    assert positions == sorted(positions), order
    assert {key: names[key] for key in expected if not names[key]} == {}

    # Every control is labelled, the hidden file input and the second radio included.
    for control in page.find_elements("css selector", "input, button, textarea, select"):
        if control.get_attribute("type") == "file" or control.is_displayed():
            assert control.accessible_name.strip(), control.get_attribute("id")
    levels = [
        int(heading.tag_name[1])
        for heading in page.find_elements("css selector", "h1, h2, h3, h4, h5, h6")
        if heading.is_displayed()
    ]
    assert levels.count(1) == 1
    assert levels[0] == 1
    assert all(later <= earlier + 1 for earlier, later in itertools.pairwise(levels)), levels
    assert outside(requested_urls(page), server["origin"]) == []


@pytest.fixture(scope="module")
def file_host(files: dict[str, Path]) -> Iterator[str]:
    """A plain web server on 127.0.0.1 handing out the media: where a pasted address points."""
    with hosting(files["marked picture"].parent) as origin:
        yield origin


@pytest.fixture(scope="module")
def url_server(server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A server that also verifies addresses (loopback allowed, for the local file host) and
    takes uploads of 1 MB at most."""
    args = ["--workers", "1", "--allow-url-fetch", "--allow-loopback-fetch", "--max-upload-mb", "1"]
    with running_server(*args) as process:
        origin = process.url.rstrip("/")
        yield {"origin": origin, "url": origin + "/"}


def test_address_is_checked(
    page: Any, url_server: dict, file_host: str, files: dict, tmp_path: Path
) -> None:
    """With URL fetching on, the page shows the address field and verifies what it points to;
    the browser itself only talks to the server."""
    open_page(page, url_server)
    field = page.find_element("id", "url-input")
    assert field.is_displayed()
    assert field.accessible_name.strip()
    field.send_keys("ftp://example")
    page.find_element("id", "url-submit").click()
    assert text_of(page, "error").startswith("Type the address of a file first")

    field.clear()
    name = files["marked picture"].name
    field.send_keys(f"{file_host}/{name}")
    forget_answer(page)
    page.find_element("id", "url-submit").click()
    assert settle(page) == "result"
    assert text_of(page, "verdict") == "AI marks found"
    assert name in text_of(page, "result-heading")
    screenshot(page, tmp_path, "en-address")
    assert outside(requested_urls(page), url_server["origin"]) == []


def test_too_large_a_file_is_refused_before_upload(
    page: Any, url_server: dict, tmp_path: Path
) -> None:
    """The page knows the server's cap (/api/v1/info) and says so without sending the file."""
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * (1024 * 1024 + 1))
    open_page(page, url_server)
    assert "up to 1 MB" in text_of(page, "limits")
    assert upload(page, big) == "error"
    assert text_of(page, "error") == "The file is too large: this server takes files up to 1 MB."
    urls = requested_urls(page)
    assert url_server["origin"] + "/api/v1/info" in urls
    assert not [url for url in urls if url.endswith("/api/v1/verify")]


def test_address_field_hidden_without_url_fetching(page: Any, server: dict) -> None:
    open_page(page, server)
    assert not page.find_element("id", "url-input").is_displayed()
    assert not page.find_element("id", "url-submit").is_displayed()


CONTRAST_SCRIPT = """
const rgba = (text) => (text.match(/[\\d.]+/g) || [0, 0, 0, 0]).map(Number).concat([1]).slice(0, 4);
const luminance = ([r, g, b]) => {
  const linear = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
};
const background = (node) => {
  for (; node; node = node.parentElement) {
    const colour = rgba(getComputedStyle(node).backgroundColor);
    if (colour[3] > 0) return colour;
  }
  return [255, 255, 255, 1];
};
const low = [];
for (const node of document.querySelectorAll("body *")) {
  const text = [...node.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!text || !node.getClientRects().length || node.closest(".visually-hidden")) continue;
  const style = getComputedStyle(node);
  const [a, b] = [luminance(rgba(style.color)), luminance(background(node))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) low.push(`${node.tagName}#${node.id}: ${ratio.toFixed(2)}`);
}
return low;
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_text_has_enough_contrast(page: Any, server: dict, files: dict, lang: str) -> None:
    """Every visible piece of text meets WCAG AA contrast against its background."""
    open_page(page, server, lang=lang)
    assert upload(page, files["marked clip"]) == "result"
    assert page.execute_script(CONTRAST_SCRIPT) == []


def test_outside_requests_are_caught(page: Any, server: dict) -> None:
    """The request log sees the page's own files, and an address of another origin."""
    open_page(page, server)
    urls = requested_urls(page)
    assert server["origin"] + "/static/app.js" in urls
    assert server["origin"] + "/api/v1/info" in urls
    other = server["origin"].replace("127.0.0.1", "localhost")
    page.execute_script(
        "const probe = new Image(); probe.src = arguments[0]; document.body.append(probe);",
        other + "/static/app.css?probe",
    )
    time.sleep(0.5)
    assert outside(requested_urls(page), server["origin"]) == [other + "/static/app.css?probe"]
    page.get_log("browser")  # the server's Content-Security-Policy refused it, as it should
