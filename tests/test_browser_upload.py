"""A CSV over the limit is refused in the page, before it is sent (issue 16): sent, it overran
the websocket's message limit, the connection dropped and the upload button went dead."""

import pytest
from pages import LOSS_POINTS, wait_until

from playground.ui.upload import MAX_UPLOAD_MB


@pytest.mark.browser
def test_a_file_over_the_limit_is_refused_in_the_page_and_the_app_goes_on(server, browser):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    sent = []  # frames the page sends to the kernel
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(len(frame))))
    page.goto(server(), timeout=120_000)
    page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    page.get_by_text("your own data").click()

    def choose(name: str, content: bytes) -> None:
        """Press the upload button and pick a file in the dialog, as a person does."""
        with page.expect_file_chooser() as chooser:
            page.locator(".pg-upload .widget-upload").click()
        chooser.value.set_files(files=[{"name": name, "mimeType": "text/csv",
                                        "buffer": content}])

    big = b"x,y\n" + b"1,0\n" * ((MAX_UPLOAD_MB * 1024 * 1024) // 4 + 10)
    choose("big.csv", big)
    message = page.locator(".pg-upload-message")
    wait_until(lambda: "too large" in message.inner_text(), timeout=10)
    assert f"big.csv: {len(big) / 1e6:.1f} MB is too large; allowed: at most {MAX_UPLOAD_MB} " \
        "MB (the file was not sent)" in message.inner_text()
    assert max(sent, default=0) < 1024 * 1024  # nothing near the file's size went out

    # The connection lives: a small file is read, and a run still trains and draws.
    small = b"a,b,label\n" + b"".join(b"%d,%d,%d\n" % (i, i % 7, i % 2) for i in range(40))
    choose("small.csv", small)
    wait_until(lambda: "small.csv: 3 columns" in message.inner_text(), timeout=30)
    page.get_by_role("button", name="Start").click()
    wait_until(lambda: page.evaluate(LOSS_POINTS) > 0, timeout=60)
    page.get_by_role("button", name="Stop").click()
