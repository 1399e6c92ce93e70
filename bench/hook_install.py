#!/usr/bin/env python
"""The hook in a regular (non-editable) install, against the bare interpreter of that install.

    python -m venv /tmp/wm && /tmp/wm/bin/pip install --no-deps .
    /tmp/wm/bin/python bench/hook_install.py [RUNS]

bench/perf.py measures the hook in the development venv, whose editable-install finder makes
`site` import pathlib and more into every process, the bare one too; a user's install has no
such finder. This alternates `wikimem hook claude-code` (a PostToolUse payload) with
`python -c "import json, os, sys"` from the same venv and prints both medians and the ratio.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
env.update(WIKIMEM_HOME=tempfile.mkdtemp(prefix="wikimem-hook-"), WIKIMEM_AUTO_COMPILE="0")
py = sys.executable
script = os.path.join(os.path.dirname(sys.executable), "wikimem")
variants = {"bare": [py, "-c", "import json, os, sys"],
            "script": [script, "hook", "claude-code"]}


def payload(i: int) -> bytes:
    return json.dumps({"session_id": "bench-session", "cwd": "/home/dev/src/acme",
                       "hook_event_name": "PostToolUse", "tool_name": "Bash",
                       "tool_use_id": f"toolu_{i}", "tool_input": {"command": "pytest -q"},
                       "tool_response": {"stdout": "11 passed", "stderr": ""}}).encode()


times = {k: [] for k in variants}
n = 0
for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 33):
    for name, cmd in (list(variants.items()) if r % 2 else list(variants.items())[::-1]):
        n += 1
        t = time.perf_counter()
        done = subprocess.run(cmd, input=payload(n), capture_output=True, env=env,
                              cwd=env["WIKIMEM_HOME"])
        times[name].append(time.perf_counter() - t)
        assert done.returncode == 0 and not done.stderr, done
shutil.rmtree(env["WIKIMEM_HOME"], ignore_errors=True)
med = {k: statistics.median(v[3:]) * 1000 for k, v in times.items()}  # (3 warm-up runs)
print(json.dumps({**{f"{k}_median_ms": round(v, 2) for k, v in med.items()},
                  "ratio": round(med["script"] / med["bare"], 2)}))
