"""The README's library example runs as written."""
import re
import subprocess
import sys
from pathlib import Path


def test_readme_python_example_runs(tmp_path):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "load.safetensors").is_file()
    assert len([line for line in result.stdout.splitlines() if line[:4] == "2022"]) == 24
