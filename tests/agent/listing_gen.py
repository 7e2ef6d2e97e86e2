"""Hypothesis strategies that build researcher listings in the layouts `enrich ingest` reads (ACL Anthology, arXiv
list, BZPEER profile, IEEE author page, the generic author page's bracket-year and year-block layouts, the HF
papers feed), with odd content: one work or three hundred, empty / duplicate / identical titles and works, one
co-author on every paper, names with initials, non-Latin scripts, missing years, very long abstracts.

A spec is drawn first (`ListingSpec`: a name and works), then rendered as page text by the layout's renderer. The
renderers write what a real page of that layout would show; a layout that cannot show a fact (an ACL page has no
undated works, an IEEE page no titles) simply leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

GIVEN = ["Ana", "Wei", "Yan", "Jean-Luc", "Mária", "Olúwaseun", "Dmitri", "Siobhán", "Li", "Hyun-woo", "Zoë", "Ravi"]
SURNAMES = ["Ruiz", "Zhang", "Sun", "Ng", "Müller", "Okafor", "O'Brien", "van der Berg", "Nakamura", "Kim", "Li"]
NON_LATIN = ["王伟", "李娜", "Иван Петров", "Γιώργος Παπαδόπουλος", "محمد علي", "山田 太郎", "김민준", "अनिल कुमार"]
WORDS = (
    "graph neural networks parsing tables retrieval speech translation federated learning privacy robust "
    "optimisation gradient sparse attention transformer protein folding climate glacier runoff compiler "
    "register allocation quantum error correction causal inference bandits vision segmentation gait "
    "recognition anomaly detection summarisation dialogue grounding theorem proving"
).split()
VENUES = ["Proceedings of ACL", "NeurIPS", "Findings of EMNLP", "arXiv", "Journal of Testing", ""]
ORGS = ["Department of Computer Science, University of Testing, Springfield, USA", "Institut für Informatik", ""]
CATEGORIES = ["LG", "CL", "CV", "IR", "ML", "NI", "XX"]
# Lines and separators that mean something to a parser, inside a title or an abstract.
LAYOUT_TOKENS = [
    "A | B | C",
    "Ann Lee; Bob Stone",
    "Abstract: none",
    "[2020] X and Y.",
    "Year: 2021 | Conference Paper",
    "Publications (3)",
    "pdf bib abs",
    "Trust snapshot",
    "2019",
    "LGApr 7, 2023Code",
    "et al.",
    "Contact: someone@uni.edu",
    "Ann Lee (KAIST)",
    "* School of Computing, National University",
    "· 3 authors",
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass
class WorkSpec:
    title: str
    authors: list[str]
    year: int | None
    abstract: str | None
    venue: str
    category: str


@dataclass
class ListingSpec:
    name: str
    works: list[WorkSpec]
    layout: str
    org: str = ""
    notes: list[str] = field(default_factory=list)  # what is odd about it (for a failing example's report)


def initials(name: str) -> str:
    """ "Ana Ruiz" -> "A. Ruiz"; a one-token or non-Latin name stays as it is."""
    parts = name.split()
    if len(parts) < 2 or not parts[0][:1].isascii():
        return name
    return " ".join(p[0] + "." for p in parts[:-1]) + " " + parts[-1]


names = st.one_of(
    st.builds(lambda g, s: f"{g} {s}", st.sampled_from(GIVEN), st.sampled_from(SURNAMES)),
    st.builds(lambda g, s: initials(f"{g} {s}"), st.sampled_from(GIVEN), st.sampled_from(SURNAMES)),
    st.builds(
        lambda g, m, s: f"{g} {m[0]}. {s}", st.sampled_from(GIVEN), st.sampled_from(GIVEN), st.sampled_from(SURNAMES)
    ),
    st.sampled_from(NON_LATIN),
    st.text(st.characters(categories=("L",)), min_size=1, max_size=8).map(lambda s: s.strip() or "X"),
    st.sampled_from(["et al.", "O'Neil-Ó Briain", "A.", "Team", "José María García-López de la Fuente"]),
)

words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)
titles = st.one_of(
    words.map(str.title),
    st.just(""),  # an empty title
    st.sampled_from(NON_LATIN).map(lambda n: f"{n}: 研究 と 分析"),
    st.text(st.characters(categories=("L", "N", "P", "Zs")), max_size=20),
    words.map(lambda w: (w.title() + " ") * 30),  # a very long title
    st.sampled_from(LAYOUT_TOKENS),  # a title that looks like layout
)
abstracts = st.one_of(
    st.none(),
    words.map(lambda w: f"We study {w}."),
    st.integers(200, 4000).map(lambda n: " ".join(WORDS[(i * 7) % len(WORDS)] for i in range(n))),  # very long
    st.text(max_size=40),
    st.lists(st.sampled_from(LAYOUT_TOKENS), min_size=1, max_size=3).map("\n".join),  # layout inside an abstract
)
years = st.one_of(st.none(), st.integers(1960, 2030))


@st.composite
def work_specs(draw: st.DrawFn, pool: list[str]) -> WorkSpec:
    return WorkSpec(
        title=draw(titles),
        authors=draw(st.lists(st.sampled_from(pool), max_size=4, unique=True)),
        year=draw(years),
        abstract=draw(abstracts),
        venue=draw(st.sampled_from(VENUES)),
        category=draw(st.sampled_from(CATEGORIES)),
    )


@st.composite
def listing_specs(draw: st.DrawFn, *, n_works: int | None = None) -> ListingSpec:
    """A few prototype works are drawn; a longer listing repeats them with variations (or, with `identical`,
    unchanged), so a 300-work listing costs hypothesis no more draws than a short one."""
    name = draw(names)
    printed = draw(st.sampled_from([name, initials(name), name.upper()]))
    n = n_works if n_works is not None else draw(st.sampled_from([1, 1, 2, 3, 4, 5, 6, 8, 12]))
    everyone = draw(st.sampled_from(["", "", "Pat Everywhere", "П. Везде"]))  # a co-author on every paper
    pool = draw(st.lists(names, min_size=1, max_size=4))
    protos = draw(st.lists(work_specs(pool), min_size=1, max_size=min(n, 4)))
    identical, same_title = draw(st.booleans()), draw(st.booleans())
    on_byline = draw(st.lists(st.booleans(), min_size=len(protos), max_size=len(protos)))
    works: list[WorkSpec] = []
    for i in range(n):
        p = protos[i % len(protos)]
        if i >= len(protos) and not identical:  # a variation: another title (or the same one), year, co-authors
            p = WorkSpec(
                title=p.title if same_title else f"{p.title} {WORDS[i % len(WORDS)]} {i}".strip(),
                authors=pool[i % len(pool) :][:3],
                year=None if p.year is None else 1960 + (p.year + i) % 70,
                abstract=None if p.abstract is None else f"{p.abstract[:300]} {WORDS[(i * 3) % len(WORDS)]}",
                venue=p.venue,
                category=CATEGORIES[i % len(CATEGORIES)],
            )
        authors = [a for a in p.authors if a != name]
        if on_byline[i % len(protos)]:  # usually the subject is on the byline, at some position
            authors.insert(i % (len(authors) + 1), printed)
        if everyone:
            authors.append(everyone)
        works.append(WorkSpec(p.title, authors, p.year, p.abstract, p.venue, p.category))
    notes = [f"{n} works", "identical repeats" if identical else "varied repeats"]
    return ListingSpec(
        name=name,
        works=works,
        layout=draw(st.sampled_from(sorted(RENDERERS))),
        org=draw(st.sampled_from(ORGS)),
        notes=notes + ([f"co-author on every paper: {everyone}"] if everyone else []),
    )


# ----------------------------------------------------------------------------------------------- renderers


def _one_line(s: str | None) -> str:
    return " ".join((s or "").split())


def _lines(s: str | None) -> str:
    """Multi-line text as a layout that allows it prints it: its lines, without blank ones."""
    return "\n".join(x for x in (_one_line(ln) for ln in (s or "").splitlines()) if x)


def render_acl(spec: ListingSpec) -> str:
    out = [spec.name]
    year = None
    dated = sorted(spec.works, key=lambda w: -(w.year or 0))
    for w in dated:
        shown = w.year or year or 2020  # an ACL page lists works under year headings only
        if shown != year:
            out.append(str(shown))
            year = shown
        out += [_one_line(w.title), " | ".join(w.authors) or spec.name, w.venue or "Proceedings", _lines(w.abstract)]
    return "\n".join(out) + "\n"


def render_arxiv(spec: ListingSpec) -> str:
    out = []
    for i, w in enumerate(spec.works):
        date = f"{MONTHS[i % 12]} {1 + i % 28}" + (f", {w.year}" if w.year else "")
        out.append(f"{w.category}{date}" + ("Code" if i % 3 == 0 else ""))
        authors = ", ".join(w.authors[:3]) + (" et al." if len(w.authors) > 3 else "")
        out.append(f"{_one_line(w.title)}{authors}")
        out.append(_one_line(w.abstract) or "No abstract.")
    return "\n".join(out) + "\n"


def render_bzpeer(spec: ListingSpec) -> str:
    head = [
        "Researcher profile",
        spec.name,
        f"{spec.name} contributes to research.",
        "Researcher" + (spec.org or "Affiliation not imported") + "Open to collaborate",
        "Trust snapshot",
        "Trust 15 - UnverifiedVerification L1Unclaimed author",
        f"{len(spec.works)}works",
        "Published work",
        f"{len(spec.works)} published item(s)",
    ]
    body = []
    for w in spec.works:
        body += [f"preprint{w.year or ''}{w.venue or 'arXiv'}", _one_line(w.title), _one_line(w.abstract)]
    return "\n\n".join(head + [b for b in body if b]) + "\n"


def render_ieee(spec: ListingSpec) -> str:
    org = spec.org or "Unknown Institute"
    return org + "\n" + "".join(f"Abstract:{_one_line(w.abstract)}\n" for w in spec.works)


def _and_list(authors: list[str]) -> str:
    return ", ".join(authors[:-1]) + " and " + authors[-1] if len(authors) > 1 else "".join(authors)


def render_bracket_year(spec: ListingSpec) -> str:
    out = [spec.name] + ([spec.org] if spec.org else []) + ["", "Selected publications", ""]
    for i, w in enumerate(spec.works):
        year = f"[{w.year}] " if w.year else ""
        out.append(f"{year}{_and_list(w.authors)}. {_one_line(w.title)}. {w.venue}. ACL Anthology W{i}-{i}.")
        if w.abstract:
            out.append(f"  Abstract: {_one_line(w.abstract)}")
        out.append("")
    return "\n".join(out)


def render_year_blocks(spec: ListingSpec) -> str:
    out = [spec.name] + ([spec.org] if spec.org else []) + ["", f"Publications ({len(spec.works)})", ""]
    for i, w in enumerate(spec.works):
        out += [_one_line(w.title) or "Untitled", "; ".join(w.authors) or spec.name]
        if w.venue:
            out.append(w.venue)
        if w.year:
            out.append(f"Year: {w.year} | Conference Paper | ACL Anthology W{i}-{i}")
        if w.abstract:
            out.append(f"Abstract: {_lines(w.abstract)}")
        out.append("")
    return "\n".join(out)


def render_hf_papers(spec: ListingSpec) -> str:
    out = ["Daily Papers", "byAK and the research community", "Mar 11"]
    for i, w in enumerate(spec.works):
        date = f"{MONTHS[i % 12]} {1 + i % 28}" + (f", {w.year}" if w.year else "")
        out += [
            _one_line(w.title) or "Untitled",
            _one_line(w.abstract) or "No abstract.",
            f"  • {len(w.authors)} authors\n·\n{date}",
        ]
    return "\n\n".join(out) + "\n"


RENDERERS = {
    "acl": render_acl,
    "arxiv": render_arxiv,
    "bzpeer": render_bzpeer,
    "ieee": render_ieee,
    "generic-bracket-year": render_bracket_year,
    "generic-year-blocks": render_year_blocks,
    "hf-papers": render_hf_papers,
}


def render(spec: ListingSpec) -> str:
    return RENDERERS[spec.layout](spec)
