"""Person names: the one matcher for "could these two printed names be the same person?".

Names are compared as a `PersonName` (given-name tokens and surname, lower-case ASCII, built on
`enrich.schemas.text.ascii_key`). Two questions, two strictnesses:
- `PersonName.compatible`: could two printed forms name the same person? Initials match full names; differing
  middle initials or differing full given names do not ("Robert E. Mercer" vs "Robert L. Mercer"). Used to tell
  the researcher's own entry in an author list from a namesake's.
- `names_subject`: does an author line's name refer to the page's subject? Lenient (near-identical spelling, or the
  same surname and first initial): an author line on the subject's own page names the subject or a co-author.
- `email_names_subject`: does an e-mail's local part spell the subject's name (`jsmith`, `john.smith`)?
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from enrich.schemas.text import ascii_key

_DIGITS = re.compile(r"\d+")  # footnote marks ("Yan Sun1"); other marks are dropped by ascii_key
_PARTS = re.compile(r"[\s.\-]+")


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
