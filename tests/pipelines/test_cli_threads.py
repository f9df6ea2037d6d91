"""The command line lets idle OpenMP threads sleep soon, so jobs side by side share the cores."""

from __future__ import annotations

import os
import subprocess
import sys

from pipelines.cli import SPIN_COUNT, share_cores


def test_a_short_spin_count_is_set_unless_the_user_chose_a_policy():
    fresh: dict[str, str] = {}
    share_cores(fresh)
    assert fresh == {"GOMP_SPINCOUNT": SPIN_COUNT}
    mine = {"GOMP_SPINCOUNT": "INFINITE"}
    share_cores(mine)
    assert mine == {"GOMP_SPINCOUNT": "INFINITE"}
    passive = {"OMP_WAIT_POLICY": "ACTIVE"}
    share_cores(passive)
    assert passive == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_the_setting_is_in_place_before_a_command_imports_torch():
    probe = (
        "import os, sys\n"
        "from pipelines import cli\n"
        "assert 'torch' not in sys.modules\n"  # the commands import torch lazily
        "cli.main(['datasets'])\n"
        "print('spin', os.environ.get('GOMP_SPINCOUNT'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert f"spin {SPIN_COUNT}" in out
