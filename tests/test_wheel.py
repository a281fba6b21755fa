"""The built wheel serves a working desk by itself: its front-end files (htmx, Swagger UI)
are inside the package, put there at build time from the npm packages, so an installed
winback needs no npm and no node_modules at install or run time."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx

from tests.conftest import free_port, service_missing

ROOT = Path(__file__).resolve().parents[1]
HTMX = "/static/vendor/htmx/htmx.min.js"


def _run(*command: str | Path, timeout: int = 600) -> None:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"


def test_the_installed_wheel_serves_the_desk_with_its_own_front_end_files(
    tmp_path: Path,
) -> None:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        service_missing("uv (to build and install the wheel)")
    assert uv is not None
    dist = tmp_path / "dist"
    _run(uv, "build", "--wheel", "--out-dir", dist, ROOT)
    (wheel,) = dist.glob("winback-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in (
        "winback/web/static/vendor/htmx/htmx.min.js",
        "winback/web/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "winback/web/static/vendor/swagger-ui/swagger-ui.css",
    ):
        assert name in names, name

    # A fresh virtual environment, far from the checkout and its node_modules (its first
    # start compiles every module, slow on a busy machine).
    venv = tmp_path / "venv"
    _run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    _run(uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", wheel)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "WINBACK_HOME": str(tmp_path / "ws"),
        "WINBACK_SECRET_KEY": secrets.token_urlsafe(40),
        "WINBACK_CYCLE_SCHEDULE": "off",
    }
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [venv / "bin" / "winback", "serve", "--port", str(port), "--no-cycle"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                login = httpx.get(base + "/login", timeout=5)
                break
            except httpx.HTTPError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "winback serve did not answer in 600 s"
                time.sleep(0.3)
        assert login.status_code == 200
        assert HTMX in login.text  # the page asks for the packaged file
        htmx = httpx.get(base + HTMX, timeout=30)
        assert htmx.status_code == 200
        assert htmx.content == (ROOT / "node_modules/htmx.org/dist/htmx.min.js").read_bytes()
        docs = httpx.get(base + "/docs", timeout=30)
        assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
        bundle = httpx.get(base + "/static/vendor/swagger-ui/swagger-ui-bundle.js", timeout=30)
        assert bundle.status_code == 200
        assert len(bundle.content) > 100_000
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    # It was the package's copy that was served, not a checkout's.
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "winback/web/static/vendor/htmx/htmx.min.js").is_file()
    assert not (site.parent / "node_modules").exists()  # where a checkout keeps them
