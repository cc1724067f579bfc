"""The package as `pip install` would install it (a wheel built from the tracked files, installed
into a folder of its own): every file under bot/ is in it (the records' Alembic revisions and
template, the pages' static files), and the installed code finds its migrations and builds an
empty records database without the source tree."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the tracked files")
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "pyproject.toml", "bot"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    files = [f for f in files if (ROOT / f).exists()]  # a file being moved in the working tree
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    out = src / "dist"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           str(src), "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("branch7-*.whl")
    return built, [f for f in files if f.startswith("bot/")]


def test_every_file_of_the_package_is_in_the_wheel(wheel):
    built, files = wheel
    names = set(zipfile.ZipFile(built).namelist())
    missing = [f for f in files if f not in names]
    assert missing == [], f"not installed by `pip install`: {missing}"
    assert "bot/records/migrations/script.py.mako" in names
    assert any(n.startswith("bot/records/migrations/versions/") and n.endswith(".py") for n in names)
    assert "bot/supervisor/static/supervisor.css" in names and "bot/studio/static/login.html" in names


def test_the_installed_package_migrates_an_empty_database(wheel, tmp_path):
    built, _ = wheel
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(built)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    script = ("import json, bot, sqlalchemy\n"
              "from bot.records.store import make_engine, migrate\n"
              f"engine = make_engine('sqlite:///{tmp_path / 'new.sqlite3'}')\n"
              "migrate(engine)\n"
              "with engine.connect() as c:\n"
              "    v = c.execute(sqlalchemy.text('select version_num from alembic_version')).scalar()\n"
              "    t = sorted(sqlalchemy.inspect(c).get_table_names())\n"
              "print(json.dumps({'bot': bot.__file__, 'version': v, 'tables': t}))\n")
    # Run outside the source tree, the installed copy first on the path.
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    assert got["bot"].startswith(str(site)), got
    revisions = sorted(p.stem.split("_")[0] for p in (ROOT / "bot/records/migrations/versions").glob("*.py"))
    assert got["version"] == revisions[-1]
    assert {"alembic_version", "calls", "call_events"} <= set(got["tables"])
