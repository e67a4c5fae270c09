"""tokenizer/ and training/ install under the trafficlm namespace, never top level."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def run_python(code: str, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


def test_installed_package_exposes_namespaced_subpackages(tmp_path):
    """Checked against whichever install this environment has (editable in CI)."""
    proc = run_python("import trafficlm.tokenizer, trafficlm.training; print('ok')", tmp_path)
    assert proc.stdout.strip() == "ok", proc.stderr
    proc = run_python("import tokenizer", tmp_path)
    assert proc.returncode != 0
    proc = run_python("import training", tmp_path)
    assert proc.returncode != 0


def test_a_regular_install_has_the_same_layout(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    assert (target / "trafficlm" / "tokenizer" / "__init__.py").exists()
    assert (target / "trafficlm" / "training" / "__init__.py").exists()
    assert not (target / "tokenizer").exists()
    assert not (target / "training").exists()
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    proc = run_python("import trafficlm.tokenizer as t, trafficlm.training; print(t.__file__)",
                      tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(str(target))
