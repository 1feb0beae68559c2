"""Label Studio in a child process for the integration tests: a copy of the set-up database, loopback only."""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from alloop.process import free_port

__all__ = ["LabelStudioProcess", "ensure_label_studio", "user_token", "TOKEN", "LS_ENV"]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = os.environ.get("LABEL_STUDIO_TEST_TOKEN", "alloop-test-token-0123456789")

# Telemetry and version checks off; ML backends and webhooks may call a loopback address.
LS_ENV = {
    "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false", "LATEST_VERSION_CHECK": "false",
    "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false", "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    "DEBUG": "false", "LOG_LEVEL": "WARNING",
}


def ensure_label_studio() -> tuple[Path, Path]:
    """Run scripts/labelstudio_env: the label-studio executable and the cached set-up data dir."""
    out = subprocess.run([str(ROOT / "scripts" / "labelstudio_env")], check=True, capture_output=True, text=True,
                         timeout=1500)
    executable = Path(out.stdout.strip().splitlines()[-1])
    version = os.environ.get("LABEL_STUDIO_VERSION", "1.23.2")
    return executable, ROOT / ".venv-labelstudio" / f"alloop-base-{version}"


class LabelStudioProcess:
    """``label-studio start`` on 127.0.0.1 over a private copy of the set-up data dir; stopped by pid."""

    def __init__(self, executable: Path, base: Path, workdir: Path) -> None:
        self.executable = executable
        self.data_dir = workdir / "label-studio"
        shutil.copytree(base, self.data_dir)
        self.port = free_port()
        self.log = workdir / f"label-studio-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, **LS_ENV, "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir), "HOME": str(self.data_dir)}

    def start(self, timeout: float = 120.0) -> LabelStudioProcess:
        env = self.env()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.executable), "start", "--data-dir", str(self.data_dir), "--internal-host", "127.0.0.1",
                 "--port", str(self.port), "--no-browser"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Label Studio exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Label Studio did not answer /health in {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to its process group (it was started in its own session), SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(20)


def user_token(process: LabelStudioProcess, email: str) -> str:
    """A user's legacy API token, as ``label-studio user`` prints it (the API shows no one else's)."""
    out = subprocess.run([str(process.executable), "user", "--username", email, "--data-dir", str(process.data_dir)],
                         env=process.env(), capture_output=True, text=True, timeout=120, check=True)
    info = next(line for line in out.stdout.splitlines() if "'token'" in line)
    return ast.literal_eval(info)["token"]
