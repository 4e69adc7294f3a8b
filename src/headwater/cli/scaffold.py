"""`headwater init DIR`: a small working project."""

from __future__ import annotations

from pathlib import Path

from headwater.errors import HeadwaterError

FILES = {
    "README.md": """\
# __PROJECT__

A [headwater](https://pypi.org/project/headwater/) project.

    headwater list                       # the pipelines found in pipelines/
    headwater show hello                 # the DAG, without running it
    headwater run hello -p name=world    # run it; run it again: every task is cached
    python -m pytest tests               # the pipeline's test

Pipelines live in `pipelines/`: Python modules with `@task` and `@pipeline`, and recipe
files (`.yaml`, `.json`). Runs and outputs are kept in `.headwater/`.
""",
    "pipelines/__init__.py": '"""The pipelines of this project: every module here is loaded."""\n',
    "pipelines/hello.py": '''\
"""An example pipeline: greet someone, then count the letters of the greeting."""

from headwater import pipeline, task


@task
def greet(name: str, punctuation: str = "!") -> str:
    """Make a greeting."""
    return f"Hello, {name}{punctuation}"


@task
def count_letters(text: str) -> int:
    """Count the letters in a text."""
    return sum(ch.isalpha() for ch in text)


@pipeline
def hello(name: str = "world"):
    """Greet someone and count the letters."""
    greeting = greet(name)
    return {"greeting": greeting, "letters": count_letters(greeting)}
''',
    "tests/test_hello.py": """\
import headwater
from pipelines.hello import count_letters, hello


def test_count_letters():
    assert count_letters("Hi, you!") == 5


def test_hello_pipeline():
    result = headwater.run(hello, name="Ada")
    assert result.state == "succeeded"
    assert result.output == {"greeting": "Hello, Ada!", "letters": 8}
""",
    "tests/conftest.py": """\
import sys
from pathlib import Path

# Make `import pipelines` work when pytest runs from the project folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
""",
    ".gitignore": ".headwater/\n__pycache__/\n",
}


def scaffold(directory: Path) -> list[Path]:
    """Write the project's files; refuses to overwrite any existing file."""
    targets = [directory / rel for rel in FILES]
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise HeadwaterError(f"not overwriting existing files: {', '.join(existing)}")
    name = directory.resolve().name
    for target, (_, text) in zip(targets, FILES.items(), strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace("__PROJECT__", name), encoding="utf-8")
    return targets
