"""The docs' one glibc statement is the binary's own: measured from what scripts/build_binary
builds, never copied from a runner's name.

A Linux executable runs on a glibc that defines every versioned symbol it asks for, so its
floor is the highest `GLIBC_x.y` in the version-needs sections (`.gnu.version_r`) of the
one-file binary's bootloader and of every shared library bundled inside it (libpython, the
extension modules): the bootloader alone asks for less than what it unpacks and loads.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests import onefile, skip_policy

pytestmark = skip_policy.skip_if(
    None
    if sys.platform.startswith("linux")
    else skip_policy.skip_reason("glibc is Linux's", install="a Linux machine")
)

DOCS = [onefile.ROOT / "README.md", *sorted((onefile.ROOT / "docs").glob("*.md"))]
INSTALL = onefile.ROOT / "docs" / "install.md"
# A statement of a requirement: "glibc 2.36", not a benchmark's "Linux-…-with-glibc2.36".
STATED = re.compile(r"\bglibc (\d+\.\d+)")
_ELF_MAGIC = b"\x7fELF"
_SHT_GNU_VERNEED = 0x6FFFFFFE

# Run by the build venv's Python, which has PyInstaller: every ELF file the one-file
# archive holds, written out for reading.
_EXTRACT = """
import sys
from pathlib import Path
from PyInstaller.archive.readers import CArchiveReader

archive, out = CArchiveReader(sys.argv[1]), Path(sys.argv[2])
for index, name in enumerate(archive.toc):
    data = archive.extract(name)
    if isinstance(data, bytes) and data[:4] == b"\\x7fELF":
        (out / f"{index}-{Path(name).name}").write_bytes(data)
"""


def glibc_versions_needed(elf: bytes) -> set[tuple[int, int]]:
    """The `GLIBC_x.y` versions an ELF64 little-endian file's version needs name."""
    assert elf[:4] == _ELF_MAGIC and elf[4] == 2 and elf[5] == 1, "not an ELF64 LE file"
    (section_offset,) = struct.unpack_from("<Q", elf, 0x28)
    section_size, section_count = struct.unpack_from("<HH", elf, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", elf, section_offset + i * section_size)
        for i in range(section_count)
    ]
    needed: set[tuple[int, int]] = set()
    for _, kind, _, _, offset, _, link, count, _, _ in sections:
        if kind != _SHT_GNU_VERNEED:
            continue
        strings = sections[link][4]  # the linked string table's file offset
        entry = offset
        for _ in range(count):  # Elf64_Verneed, then its chain of Elf64_Vernaux
            _, aux_count, _, aux, next_entry = struct.unpack_from("<HHIII", elf, entry)
            at = entry + aux
            for _ in range(aux_count):
                _, _, _, name, next_aux = struct.unpack_from("<IHHII", elf, at)
                text = elf[strings + name : elf.index(b"\0", strings + name)].decode()
                if match := re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", text):
                    needed.add((int(match.group(1)), int(match.group(2))))
                at += next_aux
            entry += next_entry
    return needed


def bundled_elf_files(binary: Path, into: Path) -> list[Path]:
    build_python = onefile.ROOT / ".venv-build" / "bin" / "python"
    subprocess.run(
        [str(build_python), "-c", _EXTRACT, str(binary), str(into)], check=True, timeout=300
    )
    return sorted(into.iterdir())


@pytest.mark.slow
def test_the_docs_state_the_glibc_the_built_binary_needs(tmp_path: Path) -> None:
    binary = onefile.build_once()
    files = [binary, *bundled_elf_files(binary, tmp_path)]
    assert any("libpython" in path.name for path in files), files  # the archive was read
    needs = {path.name: glibc_versions_needed(path.read_bytes()) for path in files}
    floor = max(version for versions in needs.values() for version in versions)
    measured = f"{floor[0]}.{floor[1]}"
    which = sorted(name for name, versions in needs.items() if floor in versions)
    print(f"the binary needs glibc {measured} or newer (asked for by {', '.join(which)})")

    assert f"glibc {measured} or newer" in INSTALL.read_text(encoding="utf-8"), (
        f"docs/install.md must say the binary needs glibc {measured} or newer (measured)"
    )
    stated = {
        f"{doc.relative_to(onefile.ROOT)}: glibc {version}"
        for doc in DOCS
        for version in STATED.findall(doc.read_text(encoding="utf-8"))
        if version != measured
    }
    assert not stated, f"the built binary needs glibc {measured}; these say otherwise: {stated}"


def test_the_reader_finds_the_version_needs_of_this_python() -> None:
    """The ELF reader against binutils' reading of a file both can read."""
    python = Path(sys.executable).resolve()
    libraries = [python, *sorted(Path(sys.base_prefix, "lib").glob("libpython3*.so*"))]
    elf = next(path for path in libraries if path.read_bytes()[:4] == _ELF_MAGIC)
    skip_policy.require_tools("readelf", install="apt-get install binutils")
    readelf = subprocess.run(
        ["readelf", "--version-info", "--wide", str(elf)], capture_output=True, text=True
    )
    expected = {
        (int(major), int(minor))
        for major, minor in re.findall(r"Name: GLIBC_(\d+)\.(\d+)\b", readelf.stdout)
    }
    assert expected, readelf.stdout[:2000]
    assert glibc_versions_needed(elf.read_bytes()) == expected
