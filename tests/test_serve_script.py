"""scripts/serve installs the project only when it has to (scripts/install-needed decides)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import ROOT

CHECK = ROOT / "scripts" / "install-needed"


def needed(project: Path) -> bool:
    result = subprocess.run(["bash", str(CHECK), str(project)], capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def mark_done(project: Path) -> None:
    subprocess.run(["bash", str(CHECK), "--done", str(project)], check=True)


def test_install_only_for_a_new_venv_or_changed_dependencies(tmp_path):
    project = tmp_path / "project"
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\ndependencies = ["fastapi"]\n')
    assert needed(project)  # a .venv nothing was installed into
    for name in ("python", "moments"):
        (project / ".venv" / "bin" / name).write_text("#!/bin/sh\n")
        (project / ".venv" / "bin" / name).chmod(0o755)
    assert needed(project)
    mark_done(project)
    assert not needed(project)  # the next start skips pip
    assert not needed(project)
    (project / "pyproject.toml").write_text('[project]\ndependencies = ["fastapi", "httpx"]\n')
    assert needed(project)  # dependencies changed
    mark_done(project)
    assert not needed(project)
    (project / ".venv" / "bin" / "moments").unlink()  # a broken install
    assert needed(project)


def test_serve_script_asks_before_installing():
    script = (ROOT / "scripts" / "serve").read_text()
    install = script.index("pip install --quiet -e .")
    assert script.index("if scripts/install-needed .; then") < install
    assert install < script.index("scripts/install-needed --done .") < script.index("fi\nexec")
