"""The pytest plugin (incidents_common.testing) cleans up after its session: the signing keys it makes
for the apps under test do not outlive it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from incidents_common.identity import IDENTITY_DIR_ENV


def test_the_sessions_keys_folder_is_removed_when_the_session_ends(tmp_path: Path) -> None:
    seen = tmp_path / "identity-dir.txt"
    (tmp_path / "test_inner.py").write_text(
        "import os\n"
        f"from incidents_common.identity import IDENTITY_DIR_ENV\n"
        "def test_keys_are_there():\n"
        "    folder = os.environ[IDENTITY_DIR_ENV]\n"
        f"    open({str(seen)!r}, 'w').write(folder)\n"
        "    assert os.listdir(folder)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != IDENTITY_DIR_ENV}
    finished = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "pytest", "-q", "-p", "incidents_common.testing", "-p", "no:cacheprovider",
         "-p", "no:xdist", "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    folder = Path(seen.read_text())
    assert folder.name.startswith("incidents-identity-")
    assert not folder.exists(), "the session's keys outlived it"
