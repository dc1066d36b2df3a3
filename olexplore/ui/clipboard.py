"""A button that copies text to the browser's clipboard, and shows the text it copied.

ipywidgets has no clipboard, and a kernel cannot reach the page's: by the time a click has gone
to the kernel and back, the browser no longer counts it as the person's gesture, which
``navigator.clipboard.writeText`` requires. So the text travels ahead of the click: the kernel
keeps it in the widget (HTML-escaped, in a hidden ``<textarea>``, never inside the handler), and
the button's fixed ``onclick`` handler copies that textarea's value when clicked. It also marks
the widget's own element (which outlives every update of the text) so the text stays shown
below the button from then on. Nothing of the text is ever run as code: it is only data.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

#: Marks the widget's element once clicked: its text is shown from then on (the class stays
#: on the element across updates of the value).
SHOWN_CLASS = "olexplore-copy-shown"
_HANDLER = (
    "const box=this.closest('.widget-html');"
    "const text=box.querySelector('textarea').value;"
    f"box.classList.add('{SHOWN_CLASS}');"
    "const said=this.querySelector('.olexplore-copy-said');"
    "navigator.clipboard.writeText(text).then("
    "()=>{said.textContent=' · copied '+text.trimEnd().split('\\n').length+' lines';},"
    "(e)=>{said.textContent=' · the browser refused the clipboard ('+e.name+'): select the text"
    " below';});"
)
_STYLE = (
    "<style>.olexplore-copy pre{display:none;max-height:16em;overflow:auto;margin:4px 0;"
    "padding:4px;background:#f6f6f6;font-size:11px;line-height:1.35;white-space:pre}"
    f".{SHOWN_CLASS} pre{{display:block}}.olexplore-copy button{{width:auto}}</style>"
)


class CopyButton:
    """An ``ipywidgets.HTML`` button that puts :attr:`text` on the clipboard when clicked.

    >>> button = CopyButton("Copy as code", "Copy the code")
    >>> button.text = 'print("<b>")'
    >>> "&lt;b&gt;" in button.widget.value and "<b>" not in button.widget.value
    True
    >>> button.text
    'print("<b>")'
    """

    def __init__(self, label: str, tooltip: str) -> None:
        self.label, self.tooltip = label, tooltip
        self._text = ""
        self.widget = widgets.HTML()
        self.widget.add_class("olexplore-copy")
        self._render()

    @property
    def text(self) -> str:
        """What a click copies (and shows)."""
        return self._text

    @text.setter
    def text(self, text: str) -> None:
        if not isinstance(text, str):
            raise ValueError(f"text: got {type(text).__name__}; accepted: a string.")
        if text != self._text:
            self._text = text
            self._render()

    def _render(self) -> None:
        escaped = html.escape(self._text, quote=True)
        self.widget.value = (
            f"{_STYLE}<button class='jupyter-button widget-button' type='button'"
            f' title="{html.escape(self.tooltip, quote=True)}" onclick="{_HANDLER}">'
            f"<i class='fa fa-clipboard'></i> {html.escape(self.label)}"
            "<span class='olexplore-copy-said'></span></button>"
            f"<textarea hidden readonly>{escaped}</textarea><pre>{escaped}</pre>"
        )
