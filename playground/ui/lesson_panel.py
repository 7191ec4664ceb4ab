"""The lesson picker and the share link: what an instructor clicks in front of a room.

Lessons arrive as plain objects (name, title, explanation, watch); this module never
imports the lessons package, which would pull in torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import ipywidgets as widgets

from playground.ui.theme import ROOT_CLASS, error_html

NO_LESSON = "free play"


class LessonInfo(Protocol):
    name: str
    title: str
    explanation: str
    watch: str


class LessonPanel:
    """A lesson dropdown, a Play button, the lesson's explanation, and a copy-link box."""

    def __init__(self, lessons: Sequence[LessonInfo], on_choose: Callable[[str | None], Any],
                 on_play: Callable[[], Any], link: Callable[[], str]):
        self._lessons = {lesson.name: lesson for lesson in lessons}
        self._on_choose, self._on_play, self._link = on_choose, on_play, link
        options = [(NO_LESSON, "")] + [(lesson.title, lesson.name) for lesson in lessons]
        self.picker = widgets.Dropdown(options=options, value="", description="lesson",
                                       style={"description_width": "5em"},
                                       layout=widgets.Layout(width="26em"))
        self.picker.observe(self._chosen, "value")
        self.play = widgets.Button(description="Play lesson", icon="graduation-cap",
                                   tooltip="Start the lesson's runs one after another",
                                   disabled=True)
        self.play.on_click(lambda _: self._press_play())
        self.copy_link = widgets.Button(description="copy link", icon="link",
                                        tooltip="A link that opens the app with these settings")
        self.copy_link.on_click(lambda _: self.show_link())
        self.link_box = widgets.Text(value="", placeholder="press copy link", disabled=False,
                                     layout=widgets.Layout(width="100%", display="none"))
        self.explanation = widgets.HTML("")
        self.widget = widgets.VBox([
            widgets.HBox([self.picker, self.play, self.copy_link]), self.link_box,
            self.explanation])
        self.widget.add_class(ROOT_CLASS)

    def select(self, name: str | None) -> None:
        """Show a lesson as chosen (from the URL, say) and explain it."""
        self.picker.value = name or ""

    def show_link(self) -> None:
        self.link_box.value = self._link()
        self.link_box.layout.display = "flex"

    def _chosen(self, change: dict) -> None:
        name = change["new"] or None
        lesson = self._lessons.get(name) if name else None
        self.play.disabled = lesson is None
        self.explanation.value = _explain(lesson) if lesson else ""
        try:
            self._on_choose(name)
        except Exception as error:  # the app keeps running; the reason is shown
            self.explanation.value = error_html(str(error))

    def _press_play(self) -> None:
        try:
            self._on_play()
        except Exception as error:
            self.explanation.value += error_html(str(error))


def _explain(lesson: LessonInfo) -> str:
    return (f'<div class="pg-lesson"><h3>{lesson.title}</h3><p>{lesson.explanation}</p>'
            f"<p><b>Watch:</b> {lesson.watch}</p></div>")
