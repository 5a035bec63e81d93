"""The README's Python API example runs as written (on a small synthetic dataset instead of tiktok)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    code = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S).group(1)
    code = code.replace('mcdrec.load_dataset("tiktok")', 'mcdrec.load_dataset("synthetic:200x80x2000")')
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    assert 0.0 <= scope["metrics"]["recall@20"] <= 1.0
    assert tuple(scope["top10"].shape) == (2, 10)
    assert scope["x"].grad is not None


def test_readme_starts_with_the_two_setup_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert "mcdrec train" in blocks[0] and "pytest" in blocks[1]
    assert README.read_text().index("```bash") < README.read_text().index("## ")
