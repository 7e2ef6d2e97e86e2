"""Person names: the one matcher for "could these two printed names be the same person?".

Names are compared as a `PersonName` (given-name tokens and surname, lower-case ASCII, built on
`enrich.schemas.text.ascii_key`). Two questions, two strictnesses:
- `PersonName.compatible`: could two printed forms name the same person? Initials match full names; differing
  middle initials or differing full given names do not ("Robert E. Mercer" vs "Robert L. Mercer"). Used to tell
  the researcher's own entry in an author list from a namesake's.
- `names_subject`: does an author line's name refer to the page's subject? Lenient (near-identical spelling, or the
  same surname and first initial): an author line on the subject's own page names the subject or a co-author.
- `email_names_subject`: does an e-mail's local part spell the subject's name (`jsmith`, `john.smith`)?
- How ambiguous a name is (`PersonName.initials_only`, `.common_surname`): a name printed as initials or with a
  very frequent surname is shared by more researchers.

Organisation names: `looks_like_institution` (is this short text an organisation's name?) and the looser
`mentions_institution` (could this text name one at all?).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from enrich.schemas.text import ascii_key

_DIGITS = re.compile(r"\d+")  # footnote marks ("Yan Sun1"); other marks are dropped by ascii_key
_PARTS = re.compile(r"[\s.\-]+")
# Surnames shared by very many researchers (the most frequent Chinese, Korean, Vietnamese, South Asian and English
# ones): a page under such a surname is a likely home for namesakes.
COMMON_SURNAMES = frozenset(
    """
li wang zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng liang xie song tang han
feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding ren shen yao jin
kim lee park choi jung jeong kang cho yoon jang lim shin oh seo kwon hwang ahn yoo hong
nguyen tran le pham hoang phan vu
kumar singh sharma gupta roy das patel shah rao reddy iyer khan ali ahmed
smith johnson williams brown jones miller davis wilson taylor anderson thomas moore martin white
""".split()
)


def name_tokens(name: str) -> list[str]:
    """Lower-case ASCII tokens of a printed name; hyphenated parts are joined ("Jean-Pierre" -> "jeanpierre")."""
    return _DIGITS.sub(" ", ascii_key(name.replace("-", ""))).split()


@dataclass(frozen=True)
class PersonName:
    """A printed person name split into given-name tokens and surname, lower-case ASCII."""

    given: tuple[str, ...]
    surname: str

    @classmethod
    def parse(cls, name: str) -> PersonName | None:
        name = name.strip()
        if "," in name:  # "Sun, Yan"
            last, _, first = name.partition(",")
            name = f"{first} {last}"
        toks = name_tokens(name)
        if not toks:
            return None
        return cls(tuple(toks[:-1]), toks[-1])

    def compatible(self, other: PersonName) -> bool:
        """Could both printed forms name the same person? Initials match full names; differing middle initials
        or differing full given names do not."""
        if self.surname != other.surname:
            return False
        for a, b in zip(self.given, other.given):
            if len(a) > 1 and len(b) > 1:
                if not (a.startswith(b) or b.startswith(a)):  # "steve" ~ "steven", "dan" ~ "daniel"
                    return False
            elif a[0] != b[0]:
                return False
        return True

    def key(self) -> str:
        return " ".join((*self.given, self.surname))

    @property
    def initials_only(self) -> bool:
        """Given names printed as initials only ("J. Lee"): every researcher with those initials shares it."""
        return bool(self.given) and all(len(g) == 1 for g in self.given)

    @property
    def common_surname(self) -> bool:
        return self.surname in COMMON_SURNAMES


def _name_parts(name: str) -> list[str]:
    return [p for p in _PARTS.split(name.casefold()) if len(p) > 1]


def names_subject(author: str | None, subject: str) -> bool:
    """Does the name on an author line refer to the subject? Near-identical spelling, or the same surname and
    first initial."""
    if not author or not subject:
        return False
    return fuzz.token_sort_ratio(author.casefold(), subject.casefold()) >= 85 or (
        _name_parts(author)[-1:] == _name_parts(subject)[-1:]
        and author.strip()[:1].casefold() == subject.strip()[:1].casefold()
    )


def email_names_subject(email: str, subject: str) -> bool:
    """Does the e-mail's local part spell the subject's name (surname, initial + surname, first.last, ...)?"""
    local = email.split("@", 1)[0].casefold()
    parts = _name_parts(subject)
    if not parts:
        return False
    first, last = parts[0], parts[-1]
    return (
        last in local
        or local in (first[0] + last, first + "." + last, first + last, first[0] + "." + last)
        or local.startswith(first[0] + last[:3])
    )


# Words that make a short text an organisation's name, in the languages research pages are commonly written in:
# the fallback when no ROR index is loaded (with one, the index decides, in any language). Generic words only, never
# the name of a particular organisation. Each of the words starts with a letter: `(?=[^\W\d_])` lets the search
# pass a word's end (a `\b` too) without trying every one of them there.
INSTITUTION_WORDS = re.compile(
    r"\b(?=[^\W\d_])(universi\w*|univ|institu\w*|istituto|college|colegio|coll[eè]ge|school|academy|acad[eé]mi\w*|"
    r"akademi\w*|laborator\w*|lab|labs|centre|center|centro|centrum|zentrum|hospital|h[oô]pital|ospedale|klinik\w*|"
    r"clinic\w*|cl[ií]nica|foundation|fundaci[oó]n|funda[cç][aã]o|fondazione|stiftung|inc\.?|corp\w*|company|ltd|gmbh|"
    r"polytechni\w*|politecnic\w*|polit[eé]cnic\w*|ecole|école|escola|escuela|hochschule|fachhochschule|"
    r"council|ministry|ministerio|minist[eè]re|agency|agencia|observatory|observatorio|museum|museo|department|"
    r"departamento|d[eé]partement|dipartimento|faculty|facultad|faculdade|facolt[aà]|fakult[aä]t)\b"
    r"|大学|大學|学院|學院|研究所|研究院|研究センター|대학교|대학|연구소|연구원|университет\w*|институт\w*|جامعة",
    re.IGNORECASE,
)


_RESEARCH = re.compile(r"\bResearch\b")


def mentions_institution(text: str) -> bool:
    """Loose: could this text name an organisation at all? (Decides whether the model is asked.)"""
    return bool(INSTITUTION_WORDS.search(text) or _RESEARCH.search(text))


_LINKING = {"of", "and", "for", "the", "at", "in", "de", "la", "le", "des", "du", "di", "y", "&", "fur", "für"}
_NAME_WORD = re.compile(r"[^\s,;()]+")


@lru_cache(maxsize=4096)  # the conflation and affiliation steps ask it about the same header lines
def looks_like_institution(name: str) -> bool:
    """An organisation's name, not a sentence that happens to contain "University": short, an institution word,
    and mostly capitalised words (names are title-cased; prose is not)."""
    words = _NAME_WORD.findall(name)
    if not words or len(words) > 14 or not (INSTITUTION_WORDS.search(name) or _RESEARCH_ORG.search(name)):
        return False
    content = [w for w in words if w.casefold() not in _LINKING]
    capitalised = [w for w in content if w[:1].isupper() or w.isupper() or w.lower() == w.upper()]  # or uncased
    return len(capitalised) >= 0.6 * len(content)


# "Microsoft Research", not "Senior Research Scientist" or "Research interests"
_RESEARCH_ORG = re.compile(
    r"\bResearch\b(?!\s+(?:scientist|engineer|fellow|associate|assistant|interests?|professor|student|intern|staff|"
    r"director|areas?|topics?|lead|manager)\b)",
    re.IGNORECASE,
)
