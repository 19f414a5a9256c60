#!/usr/bin/env python3
"""Build retrieval datasets (BEIR layout) from Debian's package descriptions.

Source: the `Translation-{en,de,fr,es}` files of Debian 12 "bookworm" main, fetched
with apt into a private directory (the machine's own apt lists and cache are not
touched). Every task is written as a BEIR directory:

    OUT/<task>/corpus.jsonl      {"_id", "title": "", "text", "packages"}
    OUT/<task>/queries.jsonl     {"_id", "text", "split"}
    OUT/<task>/qrels/{train,dev,test}.tsv   query-id <TAB> corpus-id <TAB> score
    OUT/dataset.json             sources (SHA-256), counts, split rule

Tasks: en-en, de-en, fr-en, es-en (translated synopsis against the English long
descriptions: cross-lingual) and de-de, fr-fr (translated synopsis against the
translated long descriptions). `--more-languages it,ja,...` adds X-en tasks for
further languages (query languages the fine-tuned model never saw). See README.md
next to this file.

Only the Python standard library is used; `apt-get` and `lz4` must be installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import unquote
from dataclasses import dataclass, field
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
LANGS = ("en", "de", "fr", "es")
CROSS_TASKS = ("de", "fr", "es")  # X -> en
MONO_TASKS = ("de", "fr")  # X -> X
MIN_DOC_WORDS = 15
SPLITS = ("train", "dev", "test")
# Percent of the package-name hash space per split: 70 / 10 / 20.
SPLIT_BOUNDS = ((70, "train"), (80, "dev"), (100, "test"))
FORMAT_VERSION = 1


@dataclass
class Record:
    """One stanza of a Translation file."""

    package: str
    md5: str
    synopsis: str
    long: str


@dataclass
class Task:
    """A BEIR dataset under construction."""

    name: str
    docs: dict = field(default_factory=dict)  # doc id -> {"text", "packages"}
    queries: dict = field(default_factory=dict)  # query id -> {"text", "packages", "docs"}


def parse_translation(text: str, lang: str) -> list[Record]:
    """Parses a deb822 Translation file into records (stanzas without a
    description of `lang` are skipped)."""
    records = []
    key = f"Description-{lang}"
    for stanza in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        current = None
        for line in stanza.split("\n"):
            if not line:
                continue
            if line[0] in " \t":
                if current is not None:
                    fields[current].append(line[1:])
                continue
            name, _, value = line.partition(":")
            current = name
            fields[current] = [value.strip()]
        if key not in fields or "Package" not in fields:
            continue
        lines = fields[key]
        records.append(
            Record(
                package=fields["Package"][0],
                md5=fields.get("Description-md5", [""])[0],
                synopsis=" ".join(lines[0].split()),
                long=long_description(lines[1:]),
            )
        )
    return records


def long_description(lines: list[str]) -> str:
    """Debian's extended description: a line of " ." is a paragraph break; lines
    that start with a further space are verbatim (kept as their own lines);
    other lines are joined into one paragraph."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip() == ".":
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        if line.startswith(" "):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            paragraphs.append(" ".join(line.split()))
            continue
        current.append(" ".join(line.split()))
    if current:
        paragraphs.append(" ".join(current))
    return "\n".join(p for p in paragraphs if p)


def split_of(package: str) -> str:
    """The split of a package: SHA-256 of its name, first 4 bytes, mod 100."""
    bucket = int.from_bytes(hashlib.sha256(package.encode()).digest()[:4], "big") % 100
    for bound, name in SPLIT_BOUNDS:
        if bucket < bound:
            return name
    return "test"


def short_id(prefix: str, text: str) -> str:
    return prefix + hashlib.sha256(text.encode()).hexdigest()[:16]


def add_doc(task: Task, text: str, package: str) -> str:
    doc_id = short_id("d", text)
    entry = task.docs.setdefault(doc_id, {"text": text, "packages": []})
    if package not in entry["packages"]:
        entry["packages"].append(package)
    return doc_id


def add_query(task: Task, synopsis: str, package: str, doc_id: str) -> None:
    query_id = short_id("q", synopsis)
    entry = task.queries.setdefault(query_id, {"text": synopsis, "packages": [], "docs": []})
    if package not in entry["packages"]:
        entry["packages"].append(package)
    if doc_id not in entry["docs"]:
        entry["docs"].append(doc_id)


def words(text: str) -> int:
    return len(text.split())


def build_tasks(by_lang: dict[str, list[Record]], more: tuple[str, ...] = ()) -> list[Task]:
    """Builds every task from parsed records; `more` adds X-en tasks for those languages."""
    english = [r for r in by_lang["en"] if r.synopsis and words(r.long) >= MIN_DOC_WORDS]
    en_doc_of_md5: dict[str, list[tuple[str, str]]] = {}
    en_task = Task("en-en")
    for r in english:
        doc_id = add_doc(en_task, r.long, r.package)
        add_query(en_task, r.synopsis, r.package, doc_id)
        en_doc_of_md5.setdefault(r.md5, []).append((r.package, doc_id))
    tasks = [en_task]

    for lang in CROSS_TASKS + tuple(more):
        task = Task(f"{lang}-en")
        for r in by_lang.get(lang, []):
            if not r.synopsis:
                continue
            for package, doc_id in en_doc_of_md5.get(r.md5, []):
                if package != r.package:
                    continue
                add_query(task, r.synopsis, package, doc_id)
        # The corpus of a cross-lingual task is the whole English corpus.
        task.docs = en_task.docs
        tasks.append(task)

    for lang in MONO_TASKS:
        task = Task(f"{lang}-{lang}")
        for r in by_lang.get(lang, []):
            if not r.synopsis or words(r.long) < MIN_DOC_WORDS:
                continue
            doc_id = add_doc(task, r.long, r.package)
            add_query(task, r.synopsis, r.package, doc_id)
        tasks.append(task)
    return tasks


def query_split(query: dict) -> str:
    return split_of(min(query["packages"]))


def write_task(task: Task, out: Path) -> dict:
    """Writes one task in the BEIR layout; returns its counts."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "qrels").mkdir(exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc_id in sorted(task.docs):
            doc = task.docs[doc_id]
            row = {"_id": doc_id, "title": "", "text": doc["text"], "packages": sorted(doc["packages"])}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = {s: {"queries": 0, "qrels": 0, "verbatim": 0} for s in SPLITS}
    qrels = {s: [] for s in SPLITS}
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for query_id in sorted(task.queries):
            q = task.queries[query_id]
            split = query_split(q)
            f.write(json.dumps({"_id": query_id, "text": q["text"], "split": split}, ensure_ascii=False) + "\n")
            counts[split]["queries"] += 1
            lowered = q["text"].lower()
            if any(lowered in task.docs[d]["text"].lower() for d in q["docs"]):
                counts[split]["verbatim"] += 1
            for doc_id in sorted(q["docs"]):
                qrels[split].append(f"{query_id}\t{doc_id}\t1\n")
    for split in SPLITS:
        counts[split]["qrels"] = len(qrels[split])
        with open(out / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            f.writelines(qrels[split])
    return {"documents": len(task.docs), "splits": counts}


def apt_fetch(work: Path, langs: tuple[str, ...] = LANGS) -> dict[str, Path]:
    """Fetches the Translation files with apt into `work` (private lists, cache
    and sources list); returns the compressed file of each language."""
    # apt reads relative Dir:: paths against its own configuration directory: hand it absolute ones.
    work = work.resolve()
    lists = work / "lists"
    cache = work / "cache"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    sources = work / "sources.list"
    signed = f"[signed-by={KEYRING}] " if os.path.exists(KEYRING) else ""
    sources.write_text(f"deb {signed}{MIRROR} {SUITE} main\n")
    command = [
        "apt-get",
        "update",
        "-o", f"Dir::State::Lists={lists}",
        "-o", f"Dir::Cache={cache}",
        "-o", f"Dir::Etc::SourceList={sources}",
        "-o", "Dir::Etc::SourceParts=-",
        "-o", f"Acquire::Languages={','.join(langs)}",
        "-o", "APT::Get::List-Cleanup=0",
    ]
    print("+", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True)
    return find_translations(lists, langs)


def find_translations(lists: Path, langs: tuple[str, ...] = LANGS) -> dict[str, Path]:
    found = {}
    for lang in langs:
        suffix = f"_dists_{SUITE}_main_i18n_Translation-{lang}"
        # apt escapes characters of the URL in list file names: Translation-pt%5fBR for pt_BR.
        matches = [p for p in lists.iterdir() if unquote(strip_compression(p.name)).endswith(suffix)]
        if not matches:
            raise SystemExit(f"error: no Translation-{lang} for {SUITE} main in {lists}")
        found[lang] = matches[0]
    return found


def strip_compression(name: str) -> str:
    for ext in (".lz4", ".xz", ".gz", ".bz2"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def decompress(path: Path) -> bytes:
    if path.suffix == ".lz4":
        return subprocess.run(["lz4", "-dc", str(path)], check=True, capture_output=True).stdout
    if path.suffix in (".xz", ".gz", ".bz2"):
        import bz2
        import gzip
        import lzma

        opener = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}[path.suffix]
        with opener(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="output directory (one BEIR directory per task)")
    parser.add_argument(
        "--lists",
        type=Path,
        help="use the Translation files already in this apt lists directory instead of fetching",
    )
    parser.add_argument(
        "--more-languages",
        default="",
        help="comma-separated Debian language codes (it,ja,ru,pt_BR,zh_CN,...) for further X-en tasks",
    )
    args = parser.parse_args(argv)
    more = tuple(lang for lang in args.more_languages.split(",") if lang)
    bad = [lang for lang in more if lang in LANGS or not lang.replace("_", "").isalnum()]
    if bad:
        parser.error(f"--more-languages: {', '.join(bad)} (codes like it or pt_BR, not {', '.join(LANGS)})")
    langs = LANGS + more

    args.out.mkdir(parents=True, exist_ok=True)
    if args.lists:
        files = find_translations(args.lists, langs)
    else:
        files = apt_fetch(args.out / "apt", langs)
    by_lang = {}
    sources = {}
    for lang, path in files.items():
        raw = decompress(path)
        sources[lang] = {"file": path.name, "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
        by_lang[lang] = parse_translation(raw.decode("utf-8"), lang)
        sources[lang]["records"] = len(by_lang[lang])
    summary = {
        "format_version": FORMAT_VERSION,
        "source": f"{MIRROR} {SUITE} main i18n Translation-{{{','.join(langs)}}}",
        "sources": sources,
        "min_document_words": MIN_DOC_WORDS,
        "split": "sha256(package name)[0..4] big-endian mod 100: <70 train, <80 dev, else test; "
        "a query shared by several packages follows the smallest package name",
        "tasks": {},
    }
    with tempfile.TemporaryDirectory(dir=args.out) as staging:
        for task in build_tasks(by_lang, more):
            summary["tasks"][task.name] = write_task(task, Path(staging) / task.name)
            final = args.out / task.name
            if final.exists():
                shutil.rmtree(final)
            os.replace(Path(staging) / task.name, final)
    (args.out / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n")
    for name, counts in summary["tasks"].items():
        split_counts = ", ".join(
            f"{s} {c['queries']} q ({c['verbatim']} verbatim)" for s, c in counts["splits"].items()
        )
        print(f"{name}: {counts['documents']} docs; {split_counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
