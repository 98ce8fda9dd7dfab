"""Every piece of inline HTML the magic and the panel show, and its colours.

Text from outside (prompts, file names, the server's words) is always escaped
here.  Errors are shown the same way everywhere: the error's `headline` and
`advice` (see `errors.py`), then its type and message for the technical reader.
"""

from __future__ import annotations

import base64
import html

from ..errors import describe_exception

# Colours -----------------------------------------------------------------------------
# JupyterLab's theme variables, so that light and dark themes both read; each
# with a fallback (readable on white) for front ends that do not define them.
# A theme's error, warning and success colours are made for marks, not text (its
# orange on white reads at 3.8:1): text in those colours is mixed with the theme's
# strongest text colour, darker on a light theme and lighter on a dark one, so it
# reads at 4.5:1 or more in both (tests/e2e/test_themes_browser.py measures it).


def _text(colour: str, share: int = 55) -> str:
    return f"color-mix(in srgb, {colour} {share}%, var(--jp-ui-font-color0, #000))"


ERROR = _text("var(--jp-error-color1, #d32f2f)")  # error text
ERROR_RULE = "var(--jp-error-color1, #c00)"  # the bar left of an error
ERROR_DETAIL = "var(--jp-ui-font-color1, #333)"
WARNING = _text("var(--jp-warn-color1, #f57c00)")  # cancelled, may be billed
SUCCESS = _text("var(--jp-success-color1, #388e3c)")
NOTE = "color-mix(in srgb, var(--jp-ui-font-color0, #000) 65%, var(--jp-layout-color0, #fff))"  # small notes
MUTED = NOTE  # secondary text
RULE = "var(--jp-border-color2, #ddd)"  # borders of rows and cards
PANEL_RULE = "var(--jp-border-color1, #ccc)"  # the panel's own border
URL_TILE = "var(--jp-layout-color2, #eef)"  # the tile shown for a URL reference
PROGRESS_TEXT = "var(--jp-ui-font-color1, #333)"
BRAND = "var(--jp-brand-color1, #36c)"  # running, focus
BRAND_TEXT = _text("var(--jp-brand-color1, #1976d2)", 70)  # links

STAR = "var(--jp-warn-color0, #c90)"  # a starred card's border
CHIP_PX = 64  # thumbnail of a reference chip
CARD_PX = 128  # thumbnail of a gallery card
CARD_WIDTH_PX = 148  # a gallery card: the thumbnail, and its seven 26 px icon buttons in two rows
# (narrow enough for two columns in a 480 px window)
PREVIEW_PX = 1024  # the lightbox's JPEG: screen-sized, never the 4K PNG


def short(text: str, limit: int) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


# Errors ---------------------------------------------------------------------------------


def describe(error: BaseException) -> tuple[str, str]:
    """(headline, advice) of any exception; ours carry their own wording."""
    from ..errors import XenodiaError

    if isinstance(error, XenodiaError):
        return error.headline, error.advice
    return "Something unexpected went wrong.", "The details are below; the panel and the kernel go on working."


def error_text(error: BaseException) -> str:
    """The error in plain text: headline, advice, then type and message."""
    headline, advice = describe(error)
    return "\n".join(line for line in (headline, advice, describe_exception(error)) if line)


def error_html(error: BaseException) -> str:
    """The error as a small red box: headline, advice, then type and message."""
    headline, advice = describe(error)
    technical = (
        f"<div style='font-size:11px;color:{MUTED};font-family:monospace'>{html.escape(describe_exception(error))}</div>"
    )
    return message_html(headline, advice, extra=technical)


def message_html(headline: str, detail: str = "", *, extra: str = "") -> str:
    """A headline in bold with a smaller line under it, in the error colours."""
    more = f"<div style='font-size:11px;color:{ERROR_DETAIL}'>{html.escape(detail)}</div>" if detail else ""
    return (
        f"<div class='xenodia-error-text' style='border-left:3px solid {ERROR_RULE};padding:2px 8px;"
        f"color:{ERROR};line-height:1.35'><b>{html.escape(headline)}</b>{more}{extra}</div>"
    )


def note_html(text: str, colour: str = NOTE) -> str:
    return f"<span style='font-size:12px;color:{colour}'>{html.escape(text)}</span>"


# The panel --------------------------------------------------------------------------------


def title_html(title: str, note: str = "") -> str:
    tail = f" <span style='color:{MUTED};font-size:12px'>{html.escape(note)}</span>" if note else ""
    return f"<b>{html.escape(title)}</b>{tail}"


def price_html(price_usd: float, spent_usd: float, limit_usd: float | None, running: int) -> str:
    text = f"<b>${price_usd:.2f}</b> for the next click · spent this session: ${spent_usd:.2f}"
    if limit_usd is not None:
        text += f" of a ${limit_usd:.2f} budget"
    if running:
        text += f" · {running} running"
    return f"<span style='font-size:13px'>{text}</span>"


def url_tile_html() -> str:
    return (
        f"<div style='width:{CHIP_PX}px;height:{CHIP_PX}px;display:flex;align-items:center;"
        f"justify-content:center;background:{URL_TILE};font-size:11px;text-align:center;overflow:hidden;"
        "word-break:break-all'><i class='fa fa-link' aria-hidden='true'></i>&nbsp;URL</div>"
    )


def chip_label_html(label: str) -> str:
    return (
        f"<div title='{_attr(label)}' style='font-size:10px;width:44px;overflow:hidden;white-space:nowrap;"
        f"text-overflow:ellipsis;line-height:1.2'>{html.escape(short(label, 14))}</div>"
    )


def job_title_html(prompt: str, settings: str) -> str:
    return (
        f"<span title='{_attr(prompt)}' style='font-size:12px'>{html.escape(short(prompt, 40))} "
        f"<span style='color:{MUTED}'>{html.escape(settings)}</span></span>"
    )


def cancelled_html(task_id: str | None) -> str:
    if task_id:
        text = (
            f"Stopped waiting. Task {task_id} may still finish on the server; it stays in the "
            "journal, and xj.recover() collects it without paying again."
        )
    else:
        text = "Stopped before the server answered; if it was sent, xj.recover() and xj.history() know about it."
    return f"<div class='xenodia-cancelled' style='font-size:11px;color:{WARNING}'>{html.escape(text)}</div>"


def jpeg_data_url(jpeg: bytes) -> str:
    """A JPEG as a data: URL ("" for no bytes: an empty picture)."""
    return f"data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}" if jpeg else ""


def card_caption_html(prompt: str, facts: str) -> str:
    return (
        f"<div title='{_attr(prompt)}' style='font-size:11px;line-height:1.25;width:{CARD_WIDTH_PX - 12}px;overflow:hidden;"
        f"white-space:nowrap;text-overflow:ellipsis'>{html.escape(short(prompt, 40))}"
        f"<br/><span style='color:{MUTED}'>{html.escape(facts)}</span></div>"
    )


def lineage_html(parent_prompt: str) -> str:
    """The "remix of …" line of a card: a link that opens the parent (card_face.js sends its action)."""
    return (
        f"<div style='font-size:11px;width:{CARD_WIDTH_PX - 12}px;overflow:hidden;white-space:nowrap;"
        f"text-overflow:ellipsis'><a href='#' data-action='parent' class='xenodia-lineage' title='{_attr(parent_prompt)}' "
        f"style='color:{BRAND_TEXT};text-decoration:underline'>remix of {html.escape(short(parent_prompt, 30))}</a></div>"
    )


def lightbox_html(prompt: str, facts: list[tuple[str, str]], position: str) -> str:
    """The lightbox's caption: the whole prompt, then a small table of facts."""
    rows = "".join(
        f"<tr><td style='color:{MUTED};padding-right:8px;vertical-align:top'>{html.escape(k)}</td>"
        f"<td style='word-break:break-all'>{html.escape(v)}</td></tr>"
        for k, v in facts
    )
    return (
        f"<div class='xenodia-lightbox-text' style='font-size:12px;line-height:1.35'>"
        f"<div style='color:{MUTED}'>{html.escape(position)}</div>"
        f"<div style='margin:2px 0 4px 0'><b>{html.escape(prompt)}</b></div>"
        f"<table style='font-size:11px'>{rows}</table></div>"
    )


def compare_html(differences: list[tuple[str, list[str]]], count: int) -> str:
    """The compare strip's table: one row per parameter that differs, one column per result."""
    if not differences:
        return note_html(f"These {count} results have the same parameters.")
    head = "".join(f"<th style='text-align:left;padding-right:8px'>#{i + 1}</th>" for i in range(count))
    rows = "".join(
        f"<tr><td style='color:{MUTED};padding-right:8px'>{html.escape(name)}</td>"
        + "".join(f"<td style='padding-right:8px'>{html.escape(short(v, 60))}</td>" for v in values)
        + "</tr>"
        for name, values in differences
    )
    return (
        f"<div class='xenodia-compare-diff' style='font-size:11px'><b>Differences</b>"
        f"<table><tr><th></th>{head}</tr>{rows}</table></div>"
    )


# The panel's style sheet ----------------------------------------------------------------------

# Loaded once per panel through an HTML widget.  Everything is scoped under
# .xenodia-panel.  The FileUpload view always writes "Upload (N)" with N the
# files still in its value, which the panel empties at once (so the bytes are
# not saved): the text is hidden and the label drawn without the count.
PANEL_CSS = f"""
.xenodia-panel {{ box-sizing: border-box; min-width: 0; }}
.xenodia-panel .widget-hbox, .xenodia-panel .widget-vbox {{ min-width: 0; }}
.xenodia-panel .xenodia-upload {{ font-size: 0 !important; }}
.xenodia-panel .xenodia-upload i {{ font-size: var(--jp-widgets-font-size, 13px); }}
.xenodia-panel .xenodia-upload::after {{ content: "Upload"; font-size: var(--jp-widgets-font-size, 13px);
  margin-left: 4px; }}
.xenodia-panel .xenodia-gallery {{ grid-template-columns: repeat(auto-fill, {CARD_WIDTH_PX}px); justify-content: start; }}
.xenodia-panel .xenodia-card.xenodia-rejected .xenodia-thumb {{ opacity: 0.35; }}
.xenodia-panel .xenodia-card.xenodia-starred {{ border-color: {STAR} !important; }}
.xenodia-panel .xenodia-card button {{ padding: 0; }}
.xenodia-panel .xenodia-actions {{ display: flex; flex-wrap: wrap; justify-content: center; gap: 2px; margin-top: 2px; }}
.xenodia-panel .xenodia-actions button {{ width: 26px; min-width: 26px; margin: 0; }}
.xenodia-panel .xenodia-always:disabled, .xenodia-panel .xenodia-always.mod-active:disabled {{ opacity: 1; cursor: default; }}
.xenodia-panel .xenodia-ref-remove {{ padding: 0; min-width: 26px; text-overflow: clip; }}
.xenodia-panel .xenodia-ref-remove i {{ margin: 0 !important; }}
.xenodia-panel .xenodia-face {{ display: flex; flex-direction: column; align-items: center; }}
.xenodia-panel .xenodia-thumb img {{ cursor: zoom-in; }}
.xenodia-panel {{ position: relative; }}
.xenodia-panel .xenodia-lightbox {{ position: absolute; inset: 0; z-index: 10; overflow: auto;
  background: color-mix(in srgb, var(--jp-layout-color0, #fff) 88%, transparent); }}
.xenodia-panel .xenodia-lightbox > * {{ background: var(--jp-layout-color0, #fff); padding: 6px;
  border: 1px solid {RULE}; width: 100%; max-width: 1100px; margin: 0 auto; box-sizing: border-box; flex: 0 0 auto; }}
.xenodia-panel .xenodia-lightbox > .xenodia-lightbox-image {{ flex: 1 1 0; min-height: 0; max-height: none;
  height: 100%; object-fit: contain; border-top: none; }}
.xenodia-panel .xenodia-lightbox-image {{ max-width: 100%; max-height: 60vh; width: auto; height: auto;
  align-self: center; }}
"""


def panel_style_html() -> str:
    return f"<style>{PANEL_CSS}</style>"


# The magic's progress line ---------------------------------------------------------------

# Coloured dots, not emoji: Debian's Chromium has no emoji font and draws empty boxes.
_STATE_COLOURS = {"waiting": MUTED, "queuing": MUTED, "generating": BRAND, "success": SUCCESS, "fail": ERROR}


def _state_dot(state: str) -> str:
    colour = _STATE_COLOURS.get(state, MUTED)
    return (
        f"<span style='display:inline-block;width:8px;height:8px;border-radius:50%;"
        f"background:{colour};vertical-align:middle'></span>"
    )


def progress_html(
    label: str,
    state: str,
    progress: int | None,
    elapsed_s: float,
    *,
    price_usd: float | None = None,
    task_id: str | None = None,
    note: str = "",
) -> str:
    bits = [f"{_state_dot(state)} {html.escape(state)}"]
    if progress is not None:
        bits.append(f"{progress}%")
    bits.append(f"{elapsed_s:.0f} s")
    if price_usd is not None:
        bits.append(f"${price_usd:.2f}")
    if task_id:
        bits.append(html.escape(task_id))
    bar = ""
    if progress is not None:
        bar = (
            f'<progress value="{progress}" max="100" style="width:120px;height:10px;'
            f'vertical-align:middle;margin-right:6px"></progress>'
        )
    text = " · ".join(bits)
    if note:
        text += f" — {html.escape(note)}"
    return (
        f'<div class="xenodia-progress" style="font-family:monospace;font-size:12px;color:{PROGRESS_TEXT}">'
        f"{bar}{html.escape(label)}: {text}</div>"
    )
