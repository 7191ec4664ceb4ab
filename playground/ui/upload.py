"""Upload a CSV file and choose its target column: bring-your-own data in the app."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from playground.ui.theme import ROOT_CLASS, error_html

MAX_UPLOAD_MB = 10  # stated beside the button; the parser enforces the same limit
# The page refuses a larger file before sending it: sent, it overran the server's websocket
# message limit (10 MB), the connection dropped and the button stopped answering until a
# reload. ipywidgets' FileUpload keeps its <input type=file> out of the page and opens it with
# click(): the guard listens on each such input as it is opened, before the widget's own
# listener (at the target, capturing listeners run first), and stops a file over the limit.
REFUSE_LARGE_FILES_JS = """
if (!window.playgroundUploadGuard) {
  window.playgroundUploadGuard = true;
  const limit = LIMIT_MB * 1024 * 1024;
  let box = null;  // the upload control pressed last, where the message goes
  document.addEventListener("click", (event) => {
    const pressed = event.target.closest && event.target.closest(".pg-upload");
    if (pressed) box = pressed;
  }, true);
  const refuse = (event) => {
    const large = Array.from(event.target.files || []).find((file) => file.size > limit);
    if (!large) return;
    event.stopImmediatePropagation();
    event.target.value = "";
    const message = box && box.querySelector(".pg-upload-message .widget-html-content");
    if (message) {  // in the HTML widget's content, which the kernel's next message replaces
      const line = document.createElement("span");
      line.style.color = "#D55E00";
      line.textContent = large.name.slice(0, 80) + ": " + (large.size / 1e6).toFixed(1)
        + " MB is too large; allowed: at most LIMIT_MB MB (the file was not sent)";
      message.replaceChildren(line);
    }
  };
  const click = HTMLInputElement.prototype.click;
  HTMLInputElement.prototype.click = function () {
    if (this.type === "file" && !this.playgroundGuarded) {
      this.playgroundGuarded = true;
      this.addEventListener("change", refuse, true);
    }
    return click.apply(this, arguments);
  };
}
""".replace("LIMIT_MB", str(MAX_UPLOAD_MB))


class DataUpload:
    """A file button, a target dropdown and a "use data" button.

    `columns(content)` lists a file's columns; `use(content, name, target)` loads it. Both
    raise ValueError with a one-line message, which is shown here; the app goes on.
    """

    def __init__(self, columns: Callable[[bytes], list[str]],
                 use: Callable[[bytes, str, str], Any]):
        self._columns, self._use = columns, use
        self._content: bytes | None = None
        self._name = ""
        self.file = widgets.FileUpload(accept=".csv", multiple=False,
                                       description=f"CSV (≤ {MAX_UPLOAD_MB} MB)")
        self.file.observe(self._uploaded, "value")
        self.target = widgets.Dropdown(options=[], description="target", disabled=True,
                                       style={"description_width": "5em"})
        self.use = widgets.Button(description="use data", icon="table", disabled=True,
                                  tooltip="Train on this table (dataset: custom)")
        self.use.on_click(lambda _: self._press_use())
        self.message = widgets.HTML("")
        self.message.add_class("pg-upload-message")
        guard = widgets.Output(layout=widgets.Layout(height="0px", overflow="hidden"))
        guard.outputs = ({"output_type": "display_data", "metadata": {},
                          "data": {"text/html": f"<script>{REFUSE_LARGE_FILES_JS}</script>",
                                   "text/plain": "upload guard"}},)
        self.widget = widgets.VBox([widgets.HBox([self.file, self.target, self.use]),
                                    self.message, guard])
        self.widget.add_class(ROOT_CLASS)
        self.widget.add_class("pg-upload")

    def load(self, content: bytes, name: str) -> None:
        """Take a file's bytes (from the upload button, or a test)."""
        self._content, self._name = None, name
        self.use.disabled = self.target.disabled = True
        try:
            header = self._columns(content)
        except ValueError as error:
            self.message.value = error_html(str(error))
            return
        self._content = content
        self.target.options = header
        self.target.value = header[-1]
        self.use.disabled = self.target.disabled = False
        name = html.escape(name, quote=False)  # a file's name and columns are text, not HTML
        self.message.value = f"{name}: {len(header)} columns; choose the target, then use data"

    def _uploaded(self, change: dict) -> None:
        files = change["new"]
        if files:
            upload = files[0]
            self.load(bytes(upload["content"]), upload["name"])

    def _press_use(self) -> None:
        if self._content is None:
            return
        try:
            summary = self._use(self._content, self._name, self.target.value)
        except ValueError as error:
            self.message.value = error_html(str(error))
            return
        self.message.value = html.escape(str(summary or ""), quote=False)
