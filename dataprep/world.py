"""Text about a made-up world, for the demo: learnable, yet too large to memorise.

Each document describes one of many entities (people with random
multi-syllable names) through templated sentences whose facts are fixed per
entity. A model learns the templates quickly; the facts it can only learn
entity by entity. A small corpus therefore covers few of the entities that
the validation text asks about and starts to memorise its own documents
after a few epochs, while a large corpus keeps improving: the single-file
plateau in miniature. Popularity is flat, so no small set of entities
dominates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")] + [
    "tor", "ven", "dal", "mar", "sen", "pol", "gri", "bra", "chu", "fin", "lok", "nus", "pra", "sel", "tim", "vor",
]
FIELDS = ("astronomy botany chemistry geology history linguistics mathematics medicine music philosophy physics "
          "poetry sculpture zoology architecture cartography economics law navigation optics").split()
TEMPLATES = (
    "{name} was born in {place} in {year}.",
    "{name} studied {field} under {mentor}.",
    "In {year2}, {name} moved to {place2} to work on {field}.",
    "{name} is best known for a study of {thing} in {place}.",
    "{name} wrote {works} books about {field}.",
    "Colleagues of {name} included {mentor} and {friend}.",
    "{name} died in {place2} in {year3}.",
    "The archives of {place2} keep the letters of {name}.",
)
THINGS = "rivers comets ferns tides bridges coins glaciers beetles dialects lenses harbours orchards".split()


def _name(rng: np.random.Generator, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES, syllables)).capitalize()


@dataclass
class World:
    entities: int = 20000
    places: int = 600
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.names = [_name(rng, int(k)) for k in rng.integers(2, 4, self.entities)]
        place_names = [_name(rng, int(k)) for k in rng.integers(2, 4, self.places)]
        n = self.entities
        self.facts = {
            "place": rng.choice(place_names, n),
            "place2": rng.choice(place_names, n),
            "year": rng.integers(1600, 1950, n),
            "field": rng.choice(FIELDS, n),
            "mentor": rng.integers(0, n, n),
            "friend": rng.integers(0, n, n),
            "thing": rng.choice(THINGS, n),
            "works": rng.integers(2, 30, n),
        }

    def document(self, e: int, rng: np.random.Generator) -> str:
        f = self.facts
        year = int(f["year"][e])
        values = {
            "name": self.names[e],
            "place": f["place"][e],
            "place2": f["place2"][e],
            "year": year,
            "year2": year + 25,
            "year3": year + 61,
            "field": f["field"][e],
            "mentor": self.names[f["mentor"][e]],
            "friend": self.names[f["friend"][e]],
            "thing": f["thing"][e],
            "works": int(f["works"][e]),
        }
        picked = rng.choice(len(TEMPLATES), int(rng.integers(4, len(TEMPLATES) + 1)), replace=False)
        return f"{self.names[e]}\n" + " ".join(TEMPLATES[i].format(**values) for i in sorted(picked))

    def write_shard(self, path: Path, docs: int, rng: np.random.Generator, copy_rate: float = 0.1) -> None:
        """A text-only parquet shard; ``copy_rate`` of its documents repeat an earlier one verbatim."""
        texts: list[str] = []
        for _ in range(docs):
            if texts and rng.random() < copy_rate:
                texts.append(texts[int(rng.integers(0, len(texts)))])
            else:
                texts.append(self.document(int(rng.integers(0, self.entities)), rng))
        ids = [f"{path.stem}-{i}" for i in range(docs)]
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(pa.table({"text": texts, "id": ids}), tmp)
        tmp.replace(path)
