"""`dvc plots show` / `dvc plots diff` offline: an HTML template with Vega inlined.

DVC's default page loads Vega, Vega-Lite and Vega-Embed from a CDN, so the learning curves are blank on a
machine without internet. ``install_offline_template`` fetches the three packages once from the npm
registry (pinned versions, checked against the registry's sha512 integrity), writes
``.dvc/plots_offline.html`` with their scripts inlined and a style that keeps wide figures inside the page,
and points DVC at it in ``.dvc/config.local`` (this machine only: a clone without the file keeps DVC's
default page instead of failing on a missing template).
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

from sales_ability.io_utils import write_text_atomic

# The majors DVC's own page asks for (dvc-render's vega.py), at their latest releases.
PACKAGES: tuple[tuple[str, str, str], ...] = (
    ("vega", "5.30.0", "build/vega.min.js"),
    ("vega-lite", "5.21.0", "build/vega-lite.min.js"),
    ("vega-embed", "6.26.0", "build/vega-embed.min.js"),
)
REGISTRY = "https://registry.npmjs.org"
TEMPLATE_NAME = "plots_offline.html"

PAGE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  {refresh_tag}
  <title>sales-ability: DVC plots</title>
  {vega_scripts}
  <style>
    body { font-family: sans-serif; margin: 1em; }
    img { max-width: 100%; height: auto; }  /* wide figures (5 traits side by side) fit the page */
    div { max-width: 100%; overflow-x: auto; }
    table { border-spacing: 15px; }
  </style>
</head>
<body>
  {plot_divs}
</body>
</html>
"""


class PlotsTemplateError(RuntimeError):
    """A package could not be fetched, or its bytes do not match the registry's integrity hash."""


def fetch_script(name: str, version: str, member: str, timeout_s: float = 30.0) -> str:
    """The minified script ``member`` of npm package ``name@version``, its tarball checked by sha512."""
    import httpx

    try:
        meta = httpx.get(f"{REGISTRY}/{name}/{version}", timeout=timeout_s).raise_for_status().json()
        blob = httpx.get(meta["dist"]["tarball"], timeout=timeout_s, follow_redirects=True).raise_for_status().content
    except (httpx.HTTPError, KeyError, ValueError) as err:
        raise PlotsTemplateError(f"{name}@{version}: could not be fetched from {REGISTRY} ({err})") from None
    algorithm, _, expected = meta["dist"]["integrity"].partition("-")
    if algorithm != "sha512" or base64.b64encode(hashlib.sha512(blob).digest()).decode() != expected:
        raise PlotsTemplateError(f"{name}@{version}: the tarball does not match the registry's integrity hash")
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        return archive.extractfile(f"package/{member}").read().decode()


def render_template(scripts: list[str]) -> str:
    """The page with the scripts inlined (``</script`` inside them escaped). DVC fills ``{plot_divs}`` and
    ``{refresh_tag}``; its ``{scripts}`` placeholder is left out on purpose: it holds the CDN tags."""
    tags = "\n".join("<script>" + s.replace("</script", "<\\/script") + "</script>" for s in scripts)
    return PAGE.replace("{vega_scripts}", tags)


def install_offline_template(repo: Path = Path(".")) -> Path:
    """Write ``.dvc/plots_offline.html`` and set ``plots.html_template`` in ``.dvc/config.local``.

    Raises:
        PlotsTemplateError: a package could not be fetched or verified (nothing is changed then).
    """
    scripts = [fetch_script(*package) for package in PACKAGES]
    target = Path(repo) / ".dvc" / TEMPLATE_NAME
    write_text_atomic(target, render_template(scripts))
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "config", "--local", "plots.html_template", TEMPLATE_NAME], cwd=repo, check=True,
                   capture_output=True, text=True)
    return target
