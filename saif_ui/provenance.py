"""Where a result came from: the git commit of the code that made it and the exact command line."""

from __future__ import annotations

import shlex
import subprocess
import sys

from saif_ui.resources import checkout_dir


def git_commit() -> str:
    """HEAD of the repository holding this package, with `-dirty` when tracked files under saif_ui/ are modified;
    `unknown` outside a git checkout (e.g. an installed wheel)."""
    repo = checkout_dir()
    if repo is None:  # an installed package: git would answer for whatever repository the folder sits in
        return "unknown"
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "saif_ui"],
            cwd=repo,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_line(argv: list[str] | None = None) -> str:
    """The command as a user would retype it (`python -m saif_ui ...` when run as a module)."""
    argv = list(sys.argv if argv is None else argv)
    if argv and argv[0].endswith("__main__.py"):
        return "python -m saif_ui " + shlex.join(argv[1:])
    return shlex.join(argv)
