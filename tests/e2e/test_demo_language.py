"""The README demo reads in one language from start to end (issue 13 §1, "Done means").

`scripts/demo` runs every step of letter 271/STTTT-CNTT on the bundled samples against
its own throw-away slapd. Run in Vietnamese (the default), nothing it prints may be an
English message of dnmail's catalog left untranslated, nor an English sentence that
never went through the catalog; run with `--lang en`, it speaks today's English.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from conftest_slapd import require_openldap

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "src" / "dnmail" / "locale"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\(?\w*\)?[sdr]")
# Words of English sentences that Vietnamese text never holds (written without tones,
# "the", "is", "was"… are not Vietnamese words a message would use).
_ENGLISH = frozenset(
    "the is was were are not and with from which already cannot would should been this "
    "that their there has have into because must".split()
)
# What is neither a message nor prose: commands and options, paths, addresses, DNs, URLs.
# Audit actions and targets (`provision.change`, `request:16`) are codes too.
_NOT_PROSE = re.compile(
    r"`[^`]*`|--?[a-z][\w-]*|\S*/\S*|\S+@\S+|\b\w+=\S+|https?://\S+|\$\S+"
    r"|\b\w+\.[\w.-]+|\b\w+:\S+"
)
# The machine's codes of kinds, states and reasons: in JSON, never in a Vietnamese
# sentence, where their words belong ("cấp mới", "chờ xử lý", "nghỉ hưu"…).
_CODES = frozenset(
    "create change cancel pending failed rejected withdrawn retired resigned transferred "
    "issued locked active would-do would-accept withdraw-contradicted new-staff".split()
)


def _catalog(lang: str):
    with (LOCALE / lang / "LC_MESSAGES" / "dnmail.po").open("rb") as f:
        return read_po(f)


@cache
def english_fragments() -> tuple[tuple[str, str], ...]:
    """(fragment, its message) for every stretch of at least three words of an English
    message between its placeholders, unless the Vietnamese says the same words (a
    name such as "Phụ lục II" is the same in both)."""
    vi = _catalog("vi")
    out: dict[str, str] = {}
    for msg in _catalog("en"):
        if not msg.id:
            continue
        ids = msg.id if isinstance(msg.id, tuple) else (msg.id,)
        tr = vi.get(msg.id)
        vi_text = " ".join(tr.string) if tr and isinstance(tr.string, tuple) else (
            tr.string if tr else "")
        for text in ids:
            for frag in _PLACEHOLDER.split(text):
                frag = " ".join(frag.split()).strip(" .,:;()'\"")
                if len(frag.split()) >= 3 and len(frag) >= 12 and frag not in vi_text:
                    out[frag] = text
    return tuple(out.items())


def run_demo(tmp_path: Path, lang: str) -> str:
    require_openldap()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNMAIL_")}
    env.update(DNMAIL_DEMO_DIR=str(tmp_path / "demo"), DNMAIL_DEMO_NO_SETUP="1")
    p = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--lang", lang], capture_output=True, text=True,
        env=env, cwd=ROOT, timeout=900,
    )
    out = _ANSI.sub("", p.stdout + "\n" + p.stderr)
    assert p.returncode == 0, out[-4000:]
    return out


# An audit event's details, shown by `audit list`: the machine's record, the same in
# every language (docs/translations.md).
_AUDIT_DETAILS = re.compile(r'\{"[^\n]*\}')


def said(output: str) -> list[str]:
    """The lines dnmail printed, without the demo's echo of each command line and
    without the audit events' recorded details."""
    return [
        _AUDIT_DETAILS.sub(" ", ln)
        for ln in output.splitlines()
        if ln.strip() and not ln.startswith("$ dnmail")
    ]


def test_the_demo_in_vietnamese_prints_no_english(tmp_path):
    lines = said(run_demo(tmp_path, "vi"))
    text = " ".join(" ".join(ln.split()) for ln in lines)
    untranslated = sorted({msg for frag, msg in english_fragments() if frag in text})
    assert not untranslated, "English messages in the Vietnamese demo:\n" + "\n".join(untranslated)
    prose, codes = [], []
    for ln in lines:
        plain = _NOT_PROSE.sub(" ", ln)
        if len(set(re.findall(r"[A-Za-z]+", plain)) & _ENGLISH) >= 2:
            prose.append(ln)
        if set(re.findall(r"(?<![\w-])[a-z]+(?:-[a-z]+)*(?![\w-])", plain)) & _CODES:
            codes.append(ln)
    assert not prose, "English sentences in the Vietnamese demo:\n" + "\n".join(prose)
    assert not codes, "codes instead of words in the Vietnamese demo:\n" + "\n".join(codes)
    # and it did speak: the step titles and dnmail's own words are Vietnamese
    assert "Bước 3 — Trung tâm IID cấp hộp thư" in text
    assert "Chờ xử lý" in text or "Đang hoạt động" in text


def test_the_demo_in_english_speaks_english(tmp_path):
    text = " ".join(said(run_demo(tmp_path, "en")))
    assert "Step 3 — IID provisions the queue" in text
    assert "Bước 3" not in text
    words = set(re.findall(r"[A-Za-z]+", _NOT_PROSE.sub(" ", text)))
    assert len(words & _ENGLISH) >= 5
