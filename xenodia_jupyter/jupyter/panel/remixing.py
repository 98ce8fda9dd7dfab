"""Remixing in the panel: a recipe loaded into the form, and what the next
Generate is a remix of.

    remixing.load(source)          # a result, journal id or file: prompt, parameters, references
    remixing.parent                # the journal id the next Generate records as its parent
    remixing.offer(name, data, record)   # a dropped PNG that carries its recipe: ask what to do

The line under the form says what is being remixed, with a button to forget
it; a dropped PNG of ours asks whether it is a reference or a recipe.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from .. import markup
from ..markup import error_html, note_html
from .widget_tools import button, show, tagged

if TYPE_CHECKING:
    from ...core.recipe import Recipe
    from ...store.outputs import OutputStore


class Remixing(widgets.VBox):
    """`apply(recipe)` fills the form; `use_reference(name, data)` adds a dropped
    file as a reference; `say(html)` shows a message in the panel."""

    def __init__(
        self,
        store: OutputStore,
        *,
        apply: Callable[[Recipe], None],
        use_reference: Callable[[str, bytes], None],
        say: Callable[[str], None],
    ) -> None:
        super().__init__(layout=widgets.Layout(width="100%"))
        self.add_class("xenodia-remixing")
        self._store = store
        self._apply = apply
        self._use_reference = use_reference
        self._say = say
        self.parent: str | None = None
        self._offered: tuple[str, bytes, dict[str, Any]] | None = None
        def row() -> dict[str, Any]:  # a Layout each: one shared would show and hide both rows
            return {"layout": widgets.Layout(align_items="center", flex_flow="row wrap", display="none")}

        self.note = tagged(widgets.HTML(), "xenodia-remix-note")
        self.forget_button = button("", "xenodia-remix-forget", icon="times", width="32px",
                                    tooltip="Forget the recipe: the next Generate is not a remix")
        self.forget_button.on_click(lambda _b: self.forget())
        self.note_row = widgets.HBox([self.note, self.forget_button], **row())
        self.question = tagged(widgets.HTML(), "xenodia-recipe-question")
        self.as_reference_button = button("Use as reference", "xenodia-drop-as-reference", icon="plus", width="auto")
        self.as_recipe_button = button("Load its recipe", "xenodia-drop-as-recipe", icon="random", width="auto")
        self.as_reference_button.on_click(lambda _b: self.answer("reference"))
        self.as_recipe_button.on_click(lambda _b: self.answer("recipe"))
        self.question_row = widgets.HBox([self.question, self.as_reference_button, self.as_recipe_button], **row())
        self.children = [self.question_row, self.note_row]

    def load(self, source: object) -> Recipe | None:
        """Fill the form from `source`'s recipe; None (and a message) when it has none."""
        from ...core.recipe import read_recipe

        try:
            recipe = read_recipe(source, self._store)
        except Exception as exc:
            self._say(error_html(exc))
            return None
        self._load(recipe)
        return recipe

    def _load(self, recipe: Recipe) -> None:
        self._apply(recipe)
        self.parent = recipe.parent
        short = html.escape(recipe.prompt if len(recipe.prompt) <= 60 else recipe.prompt[:59] + "…")
        missing = (
            f" {len(recipe.missing)} reference(s) are kept nowhere here: add others, or generate without them."
            if recipe.missing else ""
        )
        self.note.value = note_html(f"Remixing “{short}”: Generate records it as the parent.{missing}")
        show(self.note_row, True)

    def forget(self) -> None:
        self.parent = None
        self.note.value = ""
        show(self.note_row, False)

    def offer(self, name: str, data: bytes, record: dict[str, Any]) -> None:
        """A dropped PNG that carries its recipe: ask whether it is a reference or a recipe."""
        self._offered = (name, data, record)
        prompt = str(record.get("prompt", ""))
        short = html.escape(prompt if len(prompt) <= 50 else prompt[:49] + "…")
        self.question.value = (
            f'<span style="color:{markup.PROGRESS_TEXT}">{html.escape(name)} was made here (“{short}”): '
            "use it as a reference, or load how it was made?</span>"
        )
        show(self.question_row, True)

    def answer(self, choice: str) -> None:
        """"reference" or "recipe": what the buttons under a dropped PNG do."""
        if self._offered is None:
            return
        name, data, record = self._offered
        self._offered = None
        show(self.question_row, False)
        if choice == "reference":
            self._use_reference(name, data)
            return
        from ...core.recipe import recipe_from_provenance

        try:
            self._load(recipe_from_provenance(record, self._store))
        except Exception as exc:
            self._say(error_html(exc))
