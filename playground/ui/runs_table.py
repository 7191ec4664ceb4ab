"""A table of runs: colour, editable name, status, metrics, and show/delete/export per row.

`set_runs(rows)` may be called often (every refresh of the app): widgets are kept per run
id and only their values are touched, so an unchanged row sends nothing to the browser and
a name being typed is not overwritten. "show" draws a saved run on the plots (a session
starts with none drawn); Delete asks once more; Export is a download in the browser.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import ipywidgets as widgets

from playground.ui.quiet import Quiet
from playground.ui.theme import ROOT_CLASS, error_html, status_color

# (header, width) of each column: swatch, name, status, val loss, val accuracy (R² for a
# regression run), steps,
# legend, show, delete, export, exported file
COLUMNS: tuple[tuple[str, str], ...] = (
    ("", "1.6em"),
    ("name", "11em"),
    ("status", "7em"),
    ("val loss", "6.5em"),
    ("val acc/R²", "6em"),
    ("steps", "5.5em"),
    ("differs in", "14em"),
    ("", "5em"),
    ("", "6.5em"),
    ("", "6.5em"),
    ("", "auto"),
)
MAX_DOWNLOAD = 20 * 2**20  # bytes a download link may carry; bigger: the CLI's export
EXPORTS = {  # format -> (MIME type, what a person gets), in the table's "export as" list
    "csv": ("text/csv", "the run's curves, one row a step"),
    "json": ("application/json", "the whole run: settings, curves, events"),
    "config": ("application/json", "the settings, for `playground train --config`"),
    "weights": ("application/octet-stream", "the trained weights (torch.load)"),
    "script": ("text/x-python", "a PyTorch script that trains the run again"),
}
MIME = {fmt: mime for fmt, (mime, _) in EXPORTS.items()}


class RunsController(Protocol):
    """What the runs table needs from the controller."""

    def rename_run(self, run_id: str, name: str) -> Any: ...
    def set_run_visible(self, run_id: str, visible: bool) -> Any: ...
    def delete_run(self, run_id: str) -> Any: ...
    def export_run(self, run_id: str, fmt: str) -> tuple[str, str | bytes]: ...  # name, data


def format_loss(value: Any) -> str:
    if value is None:
        return "–"
    value = float(value)
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def format_accuracy(value: Any, r2: bool = False) -> str:
    """A fraction in [0, 1] as a percentage; `r2`: a regression run's R², as a number."""
    if value is None:
        return "–"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"R² {value:.3f}" if r2 else f"{100 * value:.1f}%"


def swatch_html(color: str) -> str:
    return (f'<span style="display:inline-block;width:1.1em;height:1.1em;border-radius:3px;'
            f'vertical-align:middle;background:{html.escape(str(color), quote=True)}"></span>')


def status_html(status: str) -> str:
    return f'<b style="color:{status_color(status)}">{html.escape(str(status))}</b>'


def differs_html(text: str) -> str:
    """One line, cut with an ellipsis; the whole text on hover (it wrapped to 8 lines)."""
    escaped = html.escape(text, quote=True)
    return (f'<div class="pg-muted" title="{escaped}" style="white-space:nowrap;'
            f'overflow:hidden;text-overflow:ellipsis">{escaped}</div>')


def download_html(file_name: str, content: str | bytes, fmt: str) -> str:
    """A link that saves `content` (text, or bytes such as weights) as `file_name` in the
    person's browser (a base64 data: URL, so the served app writes nothing on the server and
    needs no file route)."""
    data = content.encode() if isinstance(content, str) else content
    if len(data) > MAX_DOWNLOAD:
        raise ValueError(f"export: {len(data) / 2**20:.0f} MB is too large for the browser; "
                         f"allowed: up to {MAX_DOWNLOAD // 2**20} MB (use `playground runs "
                         "export` in a terminal)")
    href = f"data:{MIME.get(fmt, 'text/plain')};base64,{base64.b64encode(data).decode()}"
    name = html.escape(file_name, quote=True)
    return f'<a href="{href}" download="{name}" title="Save {name}">&#x2B07; {name}</a>'


def _cell(width: str) -> widgets.Layout:
    return widgets.Layout(width=width, flex="0 0 auto" if width != "auto" else "1 1 auto",
                          margin="0 0.4em 0 0")


@dataclass
class _Row:
    """The widgets of one run's row."""

    swatch: widgets.HTML
    name: widgets.Text
    status: widgets.HTML
    loss: widgets.HTML
    accuracy: widgets.HTML
    steps: widgets.HTML
    legend: widgets.HTML
    show: widgets.Checkbox
    delete: widgets.Button
    export: widgets.Button
    file: widgets.HTML
    widget: widgets.HBox


class RunsTable:
    """Runs as rows of widgets; edits and clicks go to the controller.

    Controller: rename_run(id, name), set_run_visible(id, visible), delete_run(id) and
    export_run(id, fmt) -> path. Rows (dicts): id, name, status, color, visible, val_loss,
    val_accuracy, r2 (True: val_accuracy is a regression run's R²), steps, legend.
    """

    def __init__(self, controller: RunsController, export_format: str = "csv"):
        self.controller = controller
        # what Export downloads, for every row: chosen in the header above the buttons
        self.format = widgets.Dropdown(
            options=list(EXPORTS), value=export_format,
            tooltip="What Export downloads",
            layout=widgets.Layout(width=COLUMNS[9][1]))
        self.format.observe(self._describe_exports, names="value")
        self.rows: dict[str, _Row] = {}
        self._names: dict[str, str] = {}  # last name the controller knows, per run
        self._visible: dict[str, bool] = {}
        self._order: tuple[str, ...] = ()
        self._quiet = Quiet()  # true while the code, not a person, sets values
        self.message = widgets.HTML(value="")
        titles = [widgets.HTML(value=f"<b>{html.escape(title)}</b>", layout=_cell(width))
                  for title, width in COLUMNS]
        titles[9] = widgets.Box([self.format], layout=_cell(COLUMNS[9][1]))
        self.header = widgets.HBox(titles)
        self.body = widgets.VBox([])
        self.empty = widgets.HTML(value='<span class="pg-muted">no runs yet</span>')
        self.widget = widgets.VBox([self.message, self.header, self.empty, self.body],
                                   layout=widgets.Layout(overflow="auto"))
        self.widget.add_class(ROOT_CLASS)
        self.widget.add_class("pg-runs")

    @property
    def export_format(self) -> str:
        """What Export downloads: one of EXPORTS."""
        return self.format.value

    @export_format.setter
    def export_format(self, fmt: str) -> None:
        self.format.value = fmt

    def _describe_exports(self, _change: Any = None) -> None:
        for row in self.rows.values():
            row.export.tooltip = self._export_tooltip()

    def _export_tooltip(self) -> str:
        return f"Download {EXPORTS[self.export_format][1]} ({self.export_format})"

    @property
    def run_ids(self) -> tuple[str, ...]:
        """Run ids in the order shown."""
        return self._order

    def set_runs(self, rows: list[Mapping[str, Any]]) -> None:
        """Show these runs, in this order; widgets of runs already shown are reused."""
        seen: dict[str, Mapping[str, Any]] = {}
        for row in rows:
            seen.setdefault(str(row["id"]), row)
        for run_id in [run_id for run_id in self.rows if run_id not in seen]:
            self._drop(run_id)
        for run_id, row in seen.items():
            if run_id not in self.rows:
                self.rows[run_id] = self._build(run_id)
            self._fill(run_id, row)
        self._arrange(tuple(seen))

    # --- building and filling rows ------------------------------------------------------
    def _build(self, run_id: str) -> _Row:
        widths = [width for _, width in COLUMNS]
        swatch = widgets.HTML(layout=_cell(widths[0]))
        name = widgets.Text(continuous_update=False, layout=_cell(widths[1]),
                            tooltip="Rename the run")
        status, loss, accuracy, steps, legend = (widgets.HTML(layout=_cell(width))
                                                 for width in widths[2:7])
        show = widgets.Checkbox(value=False, description="show", indent=False,
                                tooltip="Draw this run on the plots", layout=_cell(widths[7]))
        delete = widgets.Button(description="Delete", icon="trash",
                                tooltip="Delete the run and its metrics (asks once more)",
                                layout=_cell(widths[8]))
        export = widgets.Button(description="Export", icon="download",
                                tooltip=self._export_tooltip(),
                                layout=_cell(widths[9]))
        file = widgets.HTML(layout=_cell(widths[10]))
        name.observe(lambda change: self._rename(run_id, change["new"]), names="value")
        show.observe(lambda change: self._set_visible(run_id, change["new"]), names="value")
        delete.on_click(lambda _button: self._delete(run_id))
        export.on_click(lambda _button: self._export(run_id))
        cells = [swatch, name, status, loss, accuracy, steps, legend, show, delete, export, file]
        box = widgets.HBox(cells, layout=widgets.Layout(align_items="center"))
        return _Row(swatch, name, status, loss, accuracy, steps, legend, show, delete, export,
                    file, box)

    def _fill(self, run_id: str, row: Mapping[str, Any]) -> None:
        # traitlets sends nothing when a value is set to what it already is
        widgets_ = self.rows[run_id]
        name = str(row.get("name") or run_id)
        visible = bool(row.get("visible", True))
        self._names[run_id], self._visible[run_id] = name, visible
        with self._quiet():
            widgets_.name.value = name
            widgets_.show.value = visible
        widgets_.swatch.value = swatch_html(row.get("color") or "#999999")
        widgets_.status.value = status_html(row.get("status") or "")
        widgets_.loss.value = format_loss(row.get("val_loss"))
        widgets_.accuracy.value = format_accuracy(row.get("val_accuracy"),
                                                  bool(row.get("r2")))
        steps = row.get("steps")
        widgets_.steps.value = "–" if steps is None else str(steps)
        widgets_.legend.value = differs_html(str(row.get("legend") or ""))

    def _arrange(self, order: tuple[str, ...]) -> None:
        if order != self._order:
            self._order = order
            self.body.children = tuple(self.rows[run_id].widget for run_id in order)
        self.empty.layout.display = "none" if order else None

    def _drop(self, run_id: str) -> None:
        row = self.rows.pop(run_id)
        self._names.pop(run_id, None)
        self._visible.pop(run_id, None)
        self._arrange(tuple(r for r in self._order if r != run_id))
        for cell in row.widget.children:
            cell.close()
        row.widget.close()

    # --- what a person does ----------------------------------------------------------------
    def _rename(self, run_id: str, name: str) -> None:
        if self._quiet or name == self._names.get(run_id):
            return
        if self._call("rename", self.controller.rename_run, run_id, name):
            self._names[run_id] = name
        else:
            with self._quiet():
                self.rows[run_id].name.value = self._names[run_id]

    def _set_visible(self, run_id: str, visible: bool) -> None:
        if self._quiet:
            return
        if self._call("show", self.controller.set_run_visible, run_id, visible):
            self._visible[run_id] = visible
        else:
            with self._quiet():
                self.rows[run_id].show.value = self._visible[run_id]

    def _delete(self, run_id: str) -> None:
        """The first press asks (the button turns red, "Really delete?"), the second deletes;
        a press on another row's Delete puts this one back."""
        button = self.rows[run_id].delete
        if button.button_style != "danger":
            for other, row in self.rows.items():
                if other != run_id:
                    _reset_delete(row.delete)
            button.button_style, button.description = "danger", "Really delete?"
            button.layout.width = "auto"
            return
        if self._call("delete", self.controller.delete_run, run_id) and run_id in self.rows:
            self._drop(run_id)

    def _export(self, run_id: str) -> None:
        done, result = self._call_result("export", self.controller.export_run, run_id,
                                         self.export_format)
        if not (done and run_id in self.rows):
            return
        try:
            self.rows[run_id].file.value = download_html(*result, self.export_format)
        except ValueError as error:
            self.message.value = error_html(str(error))

    def _call(self, what: str, method: Any, *args: Any) -> bool:
        return self._call_result(what, method, *args)[0]

    def _call_result(self, what: str, method: Any, *args: Any) -> tuple[bool, Any]:
        try:
            result = method(*args)
        except Exception as error:  # the table stays usable; the message says why
            self.message.value = error_html(f"{what} {args[0]}: {type(error).__name__}: "
                                            f"{error}")
            return False, None
        self.message.value = ""
        return True, result


def _reset_delete(button: widgets.Button) -> None:
    """A Delete button back to its first state."""
    if button.button_style == "danger":
        button.button_style, button.description = "", "Delete"
        button.layout.width = COLUMNS[8][1]
