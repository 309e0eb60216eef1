"""Every message, enum, enum value, field and rpc of the public API carries a comment
(issue 2: "document every field"). Reads proto/ancat/asr/v1/*.proto as text."""
import re
from pathlib import Path

import pytest

PROTO_DIR = Path(__file__).resolve().parents[2] / "proto" / "ancat" / "asr" / "v1"
DECLARATION = re.compile(
    r"^\s*(?:(?:optional|repeated)\s+)?(?:"
    r"(?:message|enum|service)\s+\w+\s*\{"          # message / enum / service
    r"|rpc\s+\w+\s*\("                               # rpc
    r"|[\w.]+\s+\w+\s*=\s*\d+\s*;"                  # field
    r"|\w+\s*=\s*\d+\s*;)")                          # enum value


def undocumented(path: Path):
    lines = path.read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        if not DECLARATION.match(line) or line.strip().startswith("//"):
            continue
        if re.match(r"^\s*message\s+\w+Request\s*\{\s*\}", line):
            continue  # an empty request message needs no words
        if "//" in line:
            continue  # trailing comment
        previous = lines[i - 1].strip() if i > 0 else ""
        if not previous.startswith("//"):
            missing.append(f"{path.name}:{i + 1}: {line.strip()}")
    return missing


@pytest.mark.parametrize("path", sorted(PROTO_DIR.glob("*.proto")), ids=lambda p: p.name)
def test_every_declaration_is_documented(path):
    assert undocumented(path) == []


def test_the_api_files_exist():
    assert (PROTO_DIR / "speech.proto").exists()
