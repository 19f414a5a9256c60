"""Tests of build.py on small Translation files (run: python3 -m unittest discover tools/debian-dataset)."""

import json
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import build  # noqa: E402

DATA = Path(__file__).parent / "testdata"


def parse(lang):
    return build.parse_translation((DATA / f"Translation-{lang}").read_text(), lang)


class ParseTest(unittest.TestCase):
    def test_stanzas_and_long_descriptions(self):
        en = parse("en")
        self.assertEqual([r.package for r in en], ["alpha", "alpha-doc", "beta", "gamma", "delta"])
        alpha = en[0]
        self.assertEqual(alpha.synopsis, "fast compression tool")
        # " ." separates paragraphs; wrapped lines are joined.
        self.assertEqual(
            alpha.long,
            "Alpha compresses files with a fast algorithm that favours speed over the compression ratio, "
            "and it decompresses at several gigabytes per second.\nThis package contains the command-line program.",
        )
        # Lines with a further leading space are verbatim lines.
        self.assertIn("\n* PNG\n* JPEG\n", en[2].long)

    def test_split_is_stable(self):
        self.assertEqual(build.split_of("alpha"), build.split_of("alpha"))
        counts = {s: 0 for s in build.SPLITS}
        for i in range(10000):
            counts[build.split_of(f"pkg{i}")] += 1
        self.assertAlmostEqual(counts["train"] / 10000, 0.7, delta=0.02)
        self.assertAlmostEqual(counts["dev"] / 10000, 0.1, delta=0.02)
        self.assertAlmostEqual(counts["test"] / 10000, 0.2, delta=0.02)


class BuildTest(unittest.TestCase):
    def test_tasks(self):
        by_lang = {"en": parse("en"), "de": parse("de"), "fr": [], "es": []}
        tasks = {t.name: t for t in build.build_tasks(by_lang)}
        self.assertEqual(set(tasks), {"en-en", "de-en", "fr-en", "es-en", "de-de", "fr-fr"})
        en = tasks["en-en"]
        # alpha and alpha-doc share one document; gamma is too short; beta and delta differ.
        self.assertEqual(len(en.docs), 3)
        # The two "image viewer" packages make one query with both documents relevant.
        viewer = [q for q in en.queries.values() if q["text"] == "image viewer"]
        self.assertEqual(len(viewer), 1)
        self.assertEqual(len(viewer[0]["docs"]), 2)
        self.assertEqual(len(en.queries), 3)
        # de-en: only translations of the current English description are joined (by Description-md5).
        de_en = tasks["de-en"]
        self.assertEqual([q["text"] for q in de_en.queries.values()], ["schnelles Kompressionswerkzeug"])
        self.assertIs(de_en.docs, en.docs)
        # de-de: the German long descriptions (≥ 15 words).
        self.assertEqual(len(tasks["de-de"].docs), 2)

    def test_written_layout(self):
        by_lang = {"en": parse("en"), "de": parse("de"), "fr": [], "es": []}
        with tempfile.TemporaryDirectory() as out:
            task = build.build_tasks(by_lang)[0]
            counts = build.write_task(task, Path(out) / "en-en")
            root = Path(out) / "en-en"
            corpus = [json.loads(line) for line in (root / "corpus.jsonl").read_text().splitlines()]
            queries = [json.loads(line) for line in (root / "queries.jsonl").read_text().splitlines()]
            self.assertEqual(len(corpus), 3)
            self.assertEqual({d["title"] for d in corpus}, {""})
            self.assertEqual(len(queries), 3)
            qrels = []
            for split in build.SPLITS:
                lines = (root / "qrels" / f"{split}.tsv").read_text().splitlines()
                self.assertEqual(lines[0], "query-id\tcorpus-id\tscore")
                qrels += lines[1:]
            self.assertEqual(len(qrels), 4)
            self.assertEqual(sum(c["queries"] for c in counts["splits"].values()), 3)

    def test_more_languages(self):
        # Languages beyond en/de/fr/es get X-en tasks; apt's escaped list names (pt%5fBR) are found.
        with tempfile.TemporaryDirectory() as tmp:
            lists, out = Path(tmp) / "lists", Path(tmp) / "out"
            lists.mkdir()
            prefix = f"deb.debian.org_debian_dists_{build.SUITE}_main_i18n_Translation-"
            for lang, source in [("en", "en"), ("de", "de"), ("fr", None), ("es", None), ("pt%5fBR", "de")]:
                text = (DATA / f"Translation-{source}").read_text() if source else ""
                # The Portuguese file is the German one relabelled: its stanzas say Description-pt_BR.
                (lists / f"{prefix}{lang}").write_text(text.replace("Description-de", "Description-pt_BR") if lang != "de" else text)
            self.assertEqual(build.main([str(out), "--lists", str(lists), "--more-languages", "pt_BR"]), 0)
            summary = json.loads((out / "dataset.json").read_text())
            self.assertIn("pt_BR-en", summary["tasks"])
            self.assertIn("pt_BR", summary["sources"])
            queries = [json.loads(line)["text"] for line in (out / "pt_BR-en" / "queries.jsonl").read_text().splitlines()]
            self.assertEqual(queries, ["schnelles Kompressionswerkzeug"])
            self.assertEqual((out / "pt_BR-en" / "corpus.jsonl").read_bytes(), (out / "en-en" / "corpus.jsonl").read_bytes())
            # A missing language is an error naming it; a base language is not a further one.
            with self.assertRaises(SystemExit) as missing:
                build.main([str(out), "--lists", str(lists), "--more-languages", "ja"])
            self.assertIn("Translation-ja", str(missing.exception))
            with self.assertRaises(SystemExit):
                build.main([str(out), "--lists", str(lists), "--more-languages", "de"])


if __name__ == "__main__":
    unittest.main()
