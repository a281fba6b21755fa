"""Build hook: the desk's front-end files (npm packages, see package.json) go into the
wheel under winback/web/static/vendor, so an installed desk needs no npm; the sdist carries
them at their node_modules paths, so a wheel built from it has them too.

An editable install (``uv sync`` on a checkout) takes nothing: the app serves the files
from node_modules there, and a fresh clone must install before npm has run (or without
npm at all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# node_modules path -> where the wheel puts it
VENDORED = {
    "node_modules/htmx.org/dist/htmx.min.js": "winback/web/static/vendor/htmx/htmx.min.js",
    "node_modules/htmx.org/LICENSE": "winback/web/static/vendor/htmx/LICENSE",
    "node_modules/swagger-ui-dist/swagger-ui-bundle.js": (
        "winback/web/static/vendor/swagger-ui/swagger-ui-bundle.js"
    ),
    "node_modules/swagger-ui-dist/swagger-ui.css": (
        "winback/web/static/vendor/swagger-ui/swagger-ui.css"
    ),
    "node_modules/swagger-ui-dist/favicon-32x32.png": (
        "winback/web/static/vendor/swagger-ui/favicon-32x32.png"
    ),
    "node_modules/swagger-ui-dist/LICENSE": "winback/web/static/vendor/swagger-ui/LICENSE",
    "node_modules/swagger-ui-dist/NOTICE": "winback/web/static/vendor/swagger-ui/NOTICE",
}


class VendoredFiles(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        missing = [name for name in VENDORED if not (root / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"the desk's front-end files are missing ({', '.join(missing)}): "
                "run `npm ci --ignore-scripts` in the checkout before building"
            )
        for name, target in VENDORED.items():
            build_data["force_include"][str(root / name)] = (
                target if self.target_name == "wheel" else name
            )
