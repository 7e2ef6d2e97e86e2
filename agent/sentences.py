"""Sentences of model prose: splitting that knows names and abbreviations, and telling a sentence from a fragment.

Splitting is pysbd's rule-based segmenter (initials such as "Mary J.K. Smith", "et al.", "e.g.", "U.S.", "vs.",
version and decimal numbers), plus one thing it cannot know: the titles of the works being summarised, whose own
"?" or "..." must not end a sentence. `fragment_reason` is the other half: a piece that still ends at an initial or
an abbreviation, a question, or a phrase without a finite verb or subject is not a sentence, whatever the splitter
did. Two helpers of the summary work on sentences too: `third_person` (an opening "he"/"she", or the authors' "we",
made "they") and `gist` (the sentence of an abstract that states the work's contribution).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache, lru_cache

import pysbd


class _Segmenter(pysbd.Segmenter):
    """pysbd's non-destructive segmenter (clean=False), with two of its costs removed. pysbd finds each sentence's
    place in the text by compiling the escaped sentence as a regular expression and scanning the whole text with it:
    one compile per sentence (which also evicts the re module's cache of the abbreviation patterns pysbd compiles on
    every call, so those are compiled again) and a scan per sentence. Here the same places are found with str.find:
    the first occurrence ending after the previous sentence, with the white space that follows it. And segment()
    keeps no per-call state on the instance (pysbd's stores the text on `self`), so threads can share one."""

    def segment(self, text: str) -> list[str]:
        if not text:
            return []
        out, prior = [], 0
        for sent in self.processor(text).process():
            pos = text.find(sent) if sent else -1
            while pos >= 0:
                end = pos + len(sent)
                while end < len(text) and text[end].isspace():
                    end += 1
                if end > prior:
                    out.append(text[pos:end])
                    prior = end
                    break
                pos = text.find(sent, end)
        return out


@cache
def _segmenter() -> pysbd.Segmenter:
    return _Segmenter(language="en", clean=False)


# pysbd only ends a sentence at one of these (its English punctuation list, an ellipsis) or before a list item,
# which needs a "." or ")"; it also splits off an opening quotation. A text with none of them before its last
# character is one sentence (most sentences of a summary), and pysbd's ~40 regular expressions need not run.
_MAY_SPLIT = frozenset('.!?。．！？…)"“”«»')
_SPLIT_CHAR = re.compile("[" + re.escape("".join(sorted(_MAY_SPLIT))) + "]")


def split_sentences(text: str, keep_whole: Iterable[str] = ()) -> list[str]:
    """The sentences of `text`. A segment boundary that falls inside one of `keep_whole` (titles) is undone."""
    return list(_split(text or "", tuple(keep_whole)))


@lru_cache(maxsize=4096)  # the same text is split again: one answer checked by several validators, a repeated page
def _split(text: str, keep_whole: tuple[str, ...]) -> tuple[str, ...]:
    text = _one_space(text)
    if not text:
        return ()
    if _SPLIT_CHAR.search(text, 0, len(text) - 1 if text[-1] in ".!?" else len(text)) is None:
        return (text,)  # the same as pysbd's answer (tests/agent/test_sentences.py compares them)
    protected = [t for t in {_one_space(t) for t in keep_whole} if len(t) > 3]
    if protected and _ends_only_inside(text, protected):
        return (text,)  # the answer of _split_and_merge (tests/agent/test_sentences.py compares them)
    return _split_and_merge(text, protected)


def _one_space(text: str) -> str:
    """`re.sub(r"\\s+", " ", text).strip()`: `\\s`, str.split() and str.strip() know the same white space."""
    return " ".join(text.split())


def _split_and_merge(text: str, protected: list[str]) -> tuple[str, ...]:
    parts = [p.strip() for p in _segmenter().segment(text) if p.strip()]
    if protected and len(parts) > 1:
        merged = [parts[0]]
        for part in parts[1:]:
            joined = f"{merged[-1]} {part}"
            if any(_boundary_inside(joined, len(merged[-1]), title) for title in protected):
                merged[-1] = joined
            else:
                merged.append(part)
        parts = merged
    return tuple(parts)


def _ends_only_inside(text: str, protected: list[str]) -> bool:
    """Would every sentence end pysbd may find in `text` be undone as inside a protected title? A sentence with the
    researcher's name ("Ada B. Lovelace studies ...") or a title with its own "?" is then one sentence, and pysbd
    need not run. pysbd ends a sentence only at a split character's word (after it, or before a list item), so it
    holds when each split character before the text's last is a ".", "!" or "?" ending a word (a space follows),
    inside an occurrence of a title that is whole words, holds no other split character and does not start with that
    word: the merge, one end at a time with the same case-folded search, then undoes each end. The test that compares
    this with _split_and_merge has an example that fails without each of these conditions."""
    low = text.casefold()
    if len(low) != len(text):  # the merge compares case-folded positions with the text's own
        return False
    body = len(text) - 1 if text[-1] in ".!?" else len(text)
    inside = set()  # the split characters that meet the condition
    for title in protected:
        t = title.casefold()
        start = low.find(t)
        while start >= 0:
            end = start + len(t)
            if (start == 0 or text[start - 1] == " ") and (end >= body or text[end] == " "):
                ends = [m.start() for m in _SPLIT_CHAR.finditer(text, start, end)]
                if len(ends) == 1 and ends[0] + 1 < end and " " in text[start : ends[0]]:
                    inside.add(ends[0])
            start = low.find(t, start + 1)
    if not inside:
        return False
    for m in _SPLIT_CHAR.finditer(text, 0, body):
        i = m.start()
        if i not in inside or text[i] not in ".!?" or i + 1 == len(text) or text[i + 1] != " ":
            return False
    return True


def _boundary_inside(joined: str, cut: int, title: str) -> bool:
    low, t = joined.casefold(), title.casefold()
    start = low.find(t)
    while start >= 0:
        if start < cut < start + len(t):
            return True
        start = low.find(t, start + 1)
    return False


# A token that ends in a period but does not end a sentence: initials ("S.", "J.K.", "U.S.") and common abbreviations.
_INITIALS = re.compile(r"^(?:[A-Z]\.)+$|^[A-Z][a-z]?\.$")
ABBREVIATIONS = frozenset(
    """al e.g i.e etc vs cf ca approx esp incl resp viz dr prof mr mrs ms st jr sr fig figs no nos vol vols pp eq
    eqs sec ch inc ltd co corp dept univ jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
_AUX = frozenset(
    """is are was were be been am has have had do does did can could will would may might shall should must
    remains seems became becomes""".split()
)
_IRREGULAR = frozenset(
    """made built found showed shown wrote written led took gave ran began brought held won drew chose set put met
    kept saw got went came became grew taught thought sought told said left lost meant spent sent understood
    undertook broke knew rose fell felt paid laid dealt let began begun gone done seen given taken run make build
    find show write lead take give begin bring hold win draw choose keep see get go come become grow teach think
    seek tell say leave lose mean spend send understand""".split()
)
_SUBJECTS = frozenset("he she it they we i you who which that this one each".split())
_PLURAL_SUBJECTS = frozenset("they we i you".split())
_DETERMINERS = frozenset(
    """the a an his her their its our my your this that these those one each another every some both such other
    several many two three""".split()
)
_PREPOSITIONS = frozenset(
    """of for with by in on to from at as into onto about across over under between among through via and or but
    than like without within toward towards upon""".split()
)
_ADVERBS = frozenset(
    """also further often now still then first later thus therefore mainly mostly largely recently primarily jointly
    additionally typically usually especially instead likewise similarly together again already""".split()
)
_OBJECT_OPENERS = frozenset("a an the that how what whether why when where its their his her".split())
# -s forms of the verbs summaries are written with that are rarely plural nouns ("models", "measures" are left out):
# after a noun and before anything but "of"/"and" they are the verb ("Event extraction uses multi-granularity
# encoding.")
_VERBS_S = frozenset(
    """uses improves proposes introduces detects generates extracts predicts identifies learns enables reduces
    outperforms achieves explores investigates examines evaluates combines leverages captures encodes recovers aligns
    translates classifies addresses describes provides applies adapts compares develops creates extends integrates
    employs exploits incorporates infers retrieves summarizes summarises tackles handles solves finds focuses
    allows requires yields boosts analyzes represents helps""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019\-]*")


def ends_at_abbreviation(sentence: str) -> bool:
    """Does the text end at an initial or an abbreviation (a piece a naive splitter broke off)?"""
    last = sentence.strip().split()[-1] if sentence.strip() else ""
    if not last.endswith("."):
        return False
    if _INITIALS.match(last):
        return True
    return last.rstrip(".").casefold().lstrip("(") in ABBREVIATIONS


def has_finite_verb(sentence: str, names: Iterable[str] = ()) -> bool:
    """A light stand-in for a part-of-speech tagger: does the text have a word that can only be a finite verb
    where it stands (an auxiliary, a past-tense form after a subject, an -s form after a subject or an adverb, a base
    form after a plural pronoun)? Title-like noun phrases ("Event representations and thematic fit.") have none."""
    name_words = {w.casefold() for n in names for w in _WORD.findall(n)}
    words = [m.group(0) for m in _WORD.finditer(sentence)]
    low = [w.casefold().replace("\u2019", "'") for w in words]
    for i, w in enumerate(low):
        if w in _AUX or (w.endswith("n't")):
            return True
        if i == 0:
            continue
        prev = low[i - 1]
        prev_is_subject = (
            prev in _SUBJECTS
            or prev in _ADVERBS
            or prev.endswith("ly")
            or prev in name_words
            or (words[i - 1][:1].isupper() and i - 1 > 0)
            or sum(ch.isupper() for ch in words[i - 1]) >= 2  # an acronym or a system's name: "GAST fine-tunes"
            or (i >= 2 and (low[i - 2] in _DETERMINERS or low[i - 2].endswith("'s")) and prev not in _PREPOSITIONS)
        )
        if w in _IRREGULAR and prev not in _DETERMINERS and prev not in _PREPOSITIONS:
            return True
        # an -ed word after another one is an adjective ("Improved unsupervised tagging ...", a title with a full stop)
        if (
            len(w) > 4
            and w.endswith("ed")
            and prev not in _DETERMINERS
            and prev not in _PREPOSITIONS
            and not (len(prev) > 4 and prev.endswith("ed"))
        ):
            return True
        if (
            len(w) > 3
            and w.endswith("s")
            and not w.endswith(("ss", "us", "is", "ous", "ics"))
            and prev_is_subject
            and w not in _PREPOSITIONS
        ):
            return True
        if prev in _PLURAL_SUBJECTS and w not in _PREPOSITIONS and w not in _DETERMINERS:
            return True
        if (
            i >= 2
            and low[i - 2] in _DETERMINERS
            and prev.endswith("s")
            and w not in _PREPOSITIONS
            and w not in _DETERMINERS
            and not w.endswith("s")
        ):
            return True  # "These methods aim ...", "Both papers show ..."
    # an -s or -ed word right before an article or a clause word: "Work on parsing includes a treebank"; a summary
    # verb after a noun: "Syntactic and semantic learning improves open IE performance."
    for i in range(1, len(low) - 1):
        w, nxt, prev = low[i], low[i + 1], low[i - 1]
        if w in _VERBS_S and prev not in _DETERMINERS and prev not in _PREPOSITIONS and nxt not in ("of", "and", "or"):
            return True
        if (
            len(w) > 3
            and (w.endswith("ed") or (w.endswith("s") and not w.endswith(("ss", "us", "is", "ous"))))
            and nxt in _OBJECT_OPENERS
            and prev not in _DETERMINERS
        ):
            return True
    # a sentence that opens like a clause (a pronoun, a possessive, a determiner, the researcher's name) and has an
    # -s or -ed word after its first noun: "His work on bilingual dictionaries builds ...", "Her model predicts ..."
    opens_clause = bool(low) and (low[0] in _SUBJECTS | _DETERMINERS | _PLURAL_SUBJECTS or low[0] in name_words)
    if opens_clause or (words and _INITIAL_OPENER.match(sentence.strip())):
        for i in range(2, len(low)):
            w, prev = low[i], low[i - 1]
            if prev in _DETERMINERS or prev in _PREPOSITIONS or w in _PREPOSITIONS:
                continue
            if len(w) > 3 and (w.endswith("ed") or (w.endswith("s") and not w.endswith(("ss", "us", "is", "ous")))):
                return True
    return False


_INITIAL_OPENER = re.compile(r"^(?:[A-Z]\.\s*)+[A-Z][a-z]")  # "N. Schluter ...", "T. H. Nguyen ..."


def fragment_reason(sentence: str, names: Iterable[str] = ()) -> str | None:
    """Why `sentence` is not a complete sentence, or None when it is one."""
    s = sentence.strip()
    words = _WORD.findall(s)
    if len(words) < 4:
        return "too short to be a sentence"
    if s.endswith(("...", "\u2026")):
        return "cut off"
    if ends_at_abbreviation(s):
        return "breaks off at an initial or an abbreviation"
    if s.endswith("?"):
        return "a question, not a statement"
    if s[-1] not in ".!\"')\u201d":
        return "does not end like a sentence"
    if s[0].islower():
        return "starts in the middle of a sentence"
    if s.count("(") != s.count(")"):
        return "unbalanced parentheses"
    if not has_finite_verb(s, names):
        return "no verb: a phrase, not a sentence"
    if _starts_with_a_verb(words):
        return "starts with its verb: no subject"
    return None


# "Identifies a subject's ...", "Presents the first ...": a verb's -s form, then what would be its object
_OBJECT_STARTS = frozenset("a an the how what whether why when its their his her our this these those new".split())
_S_ADVERBS = frozenset(
    "perhaps sometimes always besides thus nevertheless nonetheless afterwards whereas unless".split()
)


def _starts_with_a_verb(words: list[str]) -> bool:
    if len(words) < 2:
        return False
    first, second = words[0].casefold(), words[1].casefold()
    return (
        len(first) > 3
        and first.endswith("s")
        and not first.endswith(("ss", "us", "is", "ous"))
        and first not in _S_ADVERBS | _PREPOSITIONS | _DETERMINERS | _SUBJECTS
        and second in _OBJECT_STARTS
    )


# "He presents ...", "She also argues ...", "His work ...": a guess at the researcher's gender, which a listing does
# not state. Told as "They present ...", "Their work ..." instead.
_GENDERED = re.compile(r"^(?:He|She)(\s+(?:also|further|then|now|often|mainly|mostly|later|[a-z]+ly))?\s+([a-z]+)\b")
_POSSESSIVE = re.compile(r"^(?:His|Her|Our)\s+(?=[a-z])")
_AUTHORS = re.compile(r"^We\s+(?=[a-z])")
_PLURAL_FORMS = {"has": "have", "is": "are", "was": "were", "does": "do", "goes": "go"}
_MODALS = frozenset("can could will would may might should must".split())


def third_person(sentence: str) -> str:
    """`sentence` with an opening he/she/his/her made they/their (the verb agreeing; unchanged when the word after
    the pronoun is not recognisably its verb), and an opening we/our, the paper's authors speaking (a small model
    told to be brief keeps the abstract's "We propose ..."), made they/their."""
    s = _AUTHORS.sub("They ", _POSSESSIVE.sub("Their ", sentence))
    m = _GENDERED.match(s)
    if not m:
        return s
    verb = m.group(2)
    if verb in _PLURAL_FORMS:
        plural = _PLURAL_FORMS[verb]
    elif verb.endswith("ed") or verb in _MODALS or verb in _IRREGULAR:
        plural = verb
    elif verb.endswith("ies") and len(verb) > 4:
        plural = verb[:-3] + "y"
    elif verb.endswith(("sses", "shes", "ches", "xes", "zzes")):
        plural = verb[:-2]
    elif verb.endswith("s") and not verb.endswith(("ss", "us", "is")):
        plural = verb[:-1]
    else:
        return s
    return f"They{m.group(1) or ''} {plural}{s[m.end() :]}"


# the sentence of an abstract that says what the work does (its first one is usually background): "we propose ...",
# "this paper presents ...", then any sentence in the first person
_CONTRIBUTION = (
    re.compile(
        r"\b(?:we|this (?:paper|work|study|article)|here)\b(?:\s+\w+){0,3}?\s+(?:propose|present|introduce|develop|"
        r"describe|build|design|show|find|study|investigate|explore|release|create|report|offer|provide)",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:we|our|this (?:paper|work|study|article))\b", re.IGNORECASE),
)


# an opening clause before the sentence's own "we ..." / "this paper ...": it points back at the abstract's earlier
# sentences ("To bridge this gap, we ...", "As such, we ...", "In addition, we ..."), and shown alone the sentence
# reads as if the reader had seen them
_LEADING_CLAUSE = re.compile(
    r"^(?:(?:in addition|in particular|moreover|furthermore|however|therefore|thus|hence|instead|also|finally|"
    r"(?:to|as|in|for|with|by|inspired|based|building|motivated|drawing|given|following|unlike)\b[^,;:()]{0,70}?)"
    r"\s*,\s+){1,2}(?=(?:we|our|here|this (?:paper|work|study|article))\b)",
    re.IGNORECASE,
)


def standalone(sentence: str) -> str:
    """`sentence` without the opening clauses (two at most) before its "we ..." / "this paper ..." ("To investigate
    this, we perform a study" -> "We perform a study"); unchanged when what remains would be short."""
    m = _LEADING_CLAUSE.match(sentence)
    if not m or len(sentence) - m.end() < 30:
        return sentence
    return sentence[m.end()].upper() + sentence[m.end() + 1 :]


@lru_cache(maxsize=4096)  # a paper is listed on each of its authors' pages (and duplicate profiles repeat them all)
def gist(abstract: str, limit: int = 200) -> str:
    """The abstract's sentence that states the work's own contribution ("we propose ...", "this paper ..."), else
    its first, within `limit` characters (cut at a word, never with "...": small models copy a dangling ellipsis)."""
    sentences = split_sentences(abstract)
    whole = [x for x in sentences if not x.endswith(("...", "\u2026"))]  # pages cut abstracts off with "..."
    if not whole:
        return ""
    pick = standalone(next((x for rx in _CONTRIBUTION for x in whole if rx.search(x)), whole[0]))
    return pick if len(pick) <= limit else pick[:limit].rsplit(" ", 1)[0]
