"""No secret enters the repository: detect-secrets scans every file git tracks (and every new
file it would track) with the plugins and filters of ``.secrets.baseline``; a finding not in
the baseline fails, naming the file, line and kind.

The baseline holds only audited false positives (``is_secret: false``): moto's fixed
``testing`` credentials, names of Kubernetes Secrets (not their values), high-entropy
histogram and digest strings in test data. To accept a new false positive, audit it and
rewrite the baseline:

    detect-secrets scan --baseline .secrets.baseline && detect-secrets audit .secrets.baseline
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.core import baseline
from detect_secrets.settings import transient_settings

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".secrets.baseline"


def _files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (ROOT / f).is_file()})


def _scan(files: list[str], config: dict[str, object]) -> SecretsCollection:
    with transient_settings(config):
        found = SecretsCollection(root=str(ROOT))
        found.scan_files(*files, num_processors=1)
    return found


def _config() -> dict[str, object]:
    data = json.loads(BASELINE.read_text())
    return {"plugins_used": data["plugins_used"], "filters_used": data["filters_used"]}


def test_the_baseline_holds_only_audited_false_positives() -> None:
    data = json.loads(BASELINE.read_text())
    unaudited = [
        f"{name}:{s['line_number']} ({s['type']})"
        for name, found in data["results"].items()
        for s in found
        if s.get("is_secret") is not False
    ]
    assert not unaudited, f"baseline entries not audited as false positives: {unaudited}"


def test_no_secret_outside_the_baseline() -> None:
    known = {
        (name, s.secret_hash, s.type)
        for name, s in baseline.load(baseline.load_from_file(str(BASELINE)), str(BASELINE))
    }
    # Compared by file, kind and the secret's hash, so a moved line is still the same finding.
    found = _scan(_files(), _config())
    lines = [
        f"{name}:{s.line_number} {s.type}"
        for name, s in found
        if (name, s.secret_hash, s.type) not in known
    ]
    assert not lines, "possible secrets (see this module's docstring):\n" + "\n".join(lines)


def test_the_scan_finds_a_planted_secret(tmp_path: Path) -> None:
    planted = tmp_path / "settings.py"
    key = "AKIA" + "Z7QXW3RT5UPLM2NB"  # an AWS access key id's shape, split so no scan sees it
    planted.write_text(f'AWS_ACCESS_KEY_ID = "{key}"\npassword = "hunter2-{key[4:]}"\n')
    found = _scan([str(planted)], _config())
    kinds = {s.type for _, s in found}
    assert {"AWS Access Key", "Secret Keyword"} <= kinds
