"""The HTML pages a person reads (the candidate report, the bias audit), rendered from the Jinja2 template files in
``templates/``: one base layout, one stylesheet (inlined, so each page is a single file), everything escaped."""

from __future__ import annotations

from functools import cache


@cache
def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("sales_ability", "templates"),
                       autoescape=select_autoescape(("html",), default_for_string=True, default=True))


def render_page(template: str, **context) -> str:
    """``templates/<template>`` rendered with ``context`` (HTML-escaped)."""
    return _environment().get_template(template).render(**context)
