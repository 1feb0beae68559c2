"""The wheel as a user gets it: built without warnings, installed (not editable) into a fresh venv,
and run from a directory that has its own ``models.py`` and ``server/``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from alloop.process import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# pip's own notes about this machine's package-index configuration, not about alloop
_ENVIRONMENT_NOISE = re.compile(r"^WARNING: Location '.*' is ignored")


PLUGIN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "alloop-demo-plugin"
version = "0.0.1"

[project.entry-points."alloop.strategies"]
demo = "alloop_demo_plugin:register_all"
"""
PLUGIN_CODE = """\
def register_all(register):
    @register("plugin_least_confident", needs={"probs"})
    def score(inputs, *, rng):
        return 1.0 - inputs.probs.max(axis=1)
"""


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def warnings_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if "warn" in line.lower() and not _ENVIRONMENT_NOISE.match(line)]


@pytest.mark.sqlite_only  # installs the bare wheel (no postgres extra) and serves its default store
def test_the_wheel_installs_one_alloop_package_and_serves_from_a_users_directory(tmp_path: Path) -> None:
    dist, venv, home = tmp_path / "dist", tmp_path / "venv", tmp_path / "my-project"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONWARNINGS")}
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, ROOT, env=env)
    assert warnings_in(built) == []
    [wheel] = dist.glob("alloop-*.whl")

    run(sys.executable, "-m", "venv", venv, env=env)
    python = venv / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--quiet", wheel, env=env)
    assert warnings_in(installed) == []
    [site] = (venv / "lib").glob("python3*/site-packages")
    assert (site / "alloop" / "static" / "label.js").is_file()
    assert not any((site / name).exists() for name in ("server", "models", "strategies"))
    [info] = site.glob("alloop-*.dist-info")
    assert (info / "top_level.txt").read_text().split() == ["alloop"]
    assert not list(site.glob("__editable__*"))

    # A third-party strategy, registered through the alloop.strategies entry-point group.
    plugin = tmp_path / "plugin"
    (plugin / "alloop_demo_plugin").mkdir(parents=True)
    (plugin / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (plugin / "alloop_demo_plugin" / "__init__.py").write_text(PLUGIN_CODE)
    plugged = run(python, "-m", "pip", "install", "--quiet", "--no-deps", plugin, env=env)
    assert warnings_in(plugged) == []

    # The user's own project: top-level names that alloop's folders used to claim.
    home.mkdir()
    (home / "models.py").write_text("raise ImportError('the user\\'s models.py was imported')\n")
    (home / "server").mkdir()
    (home / "server" / "__init__.py").write_text("raise ImportError('the user\\'s server/ was imported')\n")
    (home / "strategies.py").write_text("raise ImportError('the user\\'s strategies.py was imported')\n")

    probe = run(python, "-c", "import alloop, alloop.app, alloop.strategies, alloop.models; from alloop import Client; "
                "print(alloop.__version__, Client.__module__, alloop.__file__)", cwd=home, env=env)
    version, module, where = probe.split()
    assert version == "0.1.0" and module == "alloop.client" and where.startswith(str(site))
    assert "serve" in run(venv / "bin" / "alloop", "--help", cwd=home, env=env)
    names = run(python, "-c", "from alloop import strategies; print(strategies.names())", cwd=home, env=env)
    assert "plugin_least_confident" in names and "margin" in names

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # `python -m` puts the user's directory first on sys.path: any import of a bare
    # `models`, `server` or `strategies` would hit the files above
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([python, "-m", "alloop", "serve", "--host", "127.0.0.1", "--port", str(port),
                                   "--data-dir", home / "alloop-data"], cwd=home, env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the installed server did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=30) as http:
            project = http.post("/projects", json={"name": "wheel", "labels": ["a", "b"], "retrain_every": 2, "dedup": "off"}).json()
            items = [{"id": i, "features": [float(i % 2), float(i)]} for i in range(20)]
            assert http.post(f"/projects/{project['id']}/items", json={"items": items}).json()["added"] == 20
            batch = http.post(f"/projects/{project['id']}/next", json={"annotator": "me", "n": 2, "wait": 20}).json()
            assert len(batch["items"]) == 2
            plugged = http.post("/projects", json={"name": "plugged", "labels": ["a", "b"],
                                                   "strategy": {"name": "plugin_least_confident"}})
            assert plugged.status_code == 201, plugged.text
            assert http.get("/", follow_redirects=False).headers["location"] == "/ui/"
            assert "alloop" in http.get("/ui/").text
            for asset in ("label.js", "app.css", "api.js"):
                assert http.get(f"/ui/assets/{asset}").status_code == 200
            assert http.get(f"/ui/projects/{project['id']}/label").status_code == 200
    finally:
        server.terminate()
        server.wait(30)
