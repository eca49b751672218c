"""Split assignment shared by synthesize.py (which picks texts that fit the split
of a voice's speaker) and protocol.py (which writes the protocols).

Rules
  * A genuine speaker GROUP (one real person, across packages and languages) lives
    in exactly one split. Groups named in GROUP_SPLIT are placed by hand so that the
    sizes come out near 70/15/15 and whole sources are held out for eval; any other
    group is placed by a stable hash of its name.
  * Held out entirely in eval ("unseen genuine"): the Italian asterisk voices
    (asterisk-core-sounds-it-wav + asterisk-prompt-it-menardi-wav: a language no
    train genuine speaker uses), plus pocketsphinx-testdata and codec2-examples.
  * A TEXT (text_id: same sentence, same language) lives in one split: the split of
    the genuine groups that speak it; if those disagree, the most held-out one
    (eval > dev > train) wins and protocol.py drops the other recordings of it.
    Texts no genuine speaker says (Fish Fillets translations, joined Tux Paint
    descriptions) are placed by a stable hash.
  * A TTS clip goes to its text's split. A TTS voice built from a genuine speaker
    (derived_from) is only given texts of that speaker's split.
  * A resynthesised clip goes to its source recording's split.
"""

import common as C

SPLITS = ("train", "dev", "eval")
HASH_FRACTIONS = (0.70, 0.15, 0.15)
_RANK = {"train": 0, "dev": 1, "eval": 2}

GROUP_SPLIT = {
    # asterisk IVR voices
    "asterisk_allison": "train",      # en + es_MX, one person
    "asterisk_es_co": "train",
    "asterisk_ivrvoice_ru": "train",
    "asterisk_june": "dev",           # fr_CA
    "asterisk_armelle": "dev",        # fr
    "asterisk_carlo": "eval",         # it: held-out language/sources
    "asterisk_menardi": "eval",
    # festvox-ru: the speaker of the msu_ru_nsh_clunits voice (same-speaker pairs)
    "festvox_ru_nsh": "train",
    # Fish Fillets: the two fish per language; minor characters follow the hash rule
    "fillets_cs_big": "train",
    "fillets_cs_small": "train",
    "fillets_nl_small": "dev",
    "fillets_nl_big": "eval",
    # Tux Paint volunteers (one per language)
    "tuxpaint_el": "dev",
    "tuxpaint_bg": "eval",
    "tuxpaint_da": "eval",
    # tiny sources kept for eval only
    "pocketsphinx_librivox": "eval",
    "pocketsphinx_cards": "eval",
    "codec2_examples": "eval",
}


def hash_split(key, seed=0):
    u = (C.stable_hash("split", seed, key) % 1_000_000) / 1_000_000
    acc = 0.0
    for name, frac in zip(SPLITS, HASH_FRACTIONS):
        acc += frac
        if u < acc:
            return name
    return SPLITS[-1]


def group_split(group, seed=0):
    if group in GROUP_SPLIT:
        return GROUP_SPLIT[group]
    if group.startswith("fillets_cs_"):
        return "train"  # Czech minor characters: too small to matter, keep with cs
    return hash_split("group:" + group, seed)


def most_held_out(splits):
    return max(splits, key=lambda s: _RANK[s])


class TextSplits:
    """text_id -> split, built from the genuine metadata rows."""

    def __init__(self, genuine_rows, seed=0):
        self.seed = seed
        by_text = {}
        for r in genuine_rows:
            by_text.setdefault(r["text_id"], set()).add(group_split(r["group"], seed))
        self._genuine = {t: most_held_out(s) for t, s in by_text.items()}

    def has_genuine(self, text_id):
        return text_id in self._genuine

    def __call__(self, text_id):
        s = self._genuine.get(text_id)
        return s if s else hash_split("text:" + text_id, self.seed)
