"""``deploy/Dockerfile`` without a Docker engine: two stages (wheels built in the
first, only installed in the second), a numeric non-root user in the image that runs,
and nothing copied from the working tree that could hold personal data."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    lines = []
    for line in (ROOT / "deploy" / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            lines.append((keyword.upper(), rest.strip()))
    return lines


def test_the_image_is_built_in_two_stages_and_runs_as_a_numeric_non_root_user():
    steps = instructions()
    stages = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"]
    assert len(stages) >= 2
    final = steps[stages[-1]:]
    assert any(k == "COPY" and rest.startswith("--from=") for k, rest in final)
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage must name its user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric: runAsNonRoot can check it


def test_only_the_package_sources_are_copied():
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from="):
            sources = rest.split()[:-1]
            assert set(sources) <= {"pyproject.toml", "README.md", "waymark", "shared",
                                    "services"}, rest
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", "deploy/waymark.env"} <= set(ignored)
