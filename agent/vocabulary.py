"""Word lists of research summaries, shared by the summary's sentence checks (agent/steps/support.py) and the fake
model (agent/fake_answers.py): the vocabulary that carries no specific content, and the claims and praise a sentence
may make only when a cited work states them."""

from __future__ import annotations

# Words any summary of any research uses: they carry no specific content, so they never count as support.
GENERIC = frozenset(
    """work works working worked research researcher researchers study studies studied studying paper papers article
    articles publication publications author authors colleague colleagues group team lab field fields area areas
    domain domains topic topics contribution contributions contribute contributed contributes advance advances
    advancing advanced progress impact impactful important importance significant significantly valuable value
    insight insights new novel recent recently current future approach approaches method methods methodology
    technique techniques system systems framework frameworks model models modeling modelling result results finding
    findings show shows showed shown demonstrate demonstrates demonstrated propose proposes proposed present presents
    presented introduce introduces introduced develop develops developed development develops explore explores
    explored investigate investigates investigated examine examines examined focus focuses focused focusing aim aims
    aimed use uses used using help helps helped make makes made way ways better improve improves improved improving
    improvement improvements performance effective effectively efficient efficiently various variety range wide
    broad broader diverse different several many multiple including include includes included also well like
    particular particularly specific specifically general generally overall whole together moreover furthermore
    additionally finally first second third one two three main key major strong robust rich deep deeper high highly
    large larger small smaller good great best leading lasting growing modern today world community communities
    researchers' reader readers people problem problems challenge challenges challenging task tasks goal goals
    application applications applied apply applies real practical computer computers based thing things kind kinds
    lot lots number numbers amount part parts aspect aspects level levels case cases example examples instance
    instance instances idea ideas question questions understanding understand understands knowledge possible
    ability able new exciting innovative avenue avenues agenda commitment boundary boundaries pave paves foundation
    provide provides provided offer offers offered achieve achieves achieved highlight highlights highlighted
    reflect reflects reflected build builds built create creates created design designs designed""".split()
)
# Claims of recognition, adoption or scale: a summary may make them only when a cited work states them.
CLAIMS = frozenset(
    """award awarded awards prize prizes won win wins winning deployed deploy deployment adopted adoption standard
    standards commercial commercially industry industrial patent patented million millions billion billions thousands
    worldwide widely popular famous renowned pioneering pioneer breakthrough record leading acclaimed cited""".split()
)
# Praise: a sentence may call a work impressive, important or state of the art only when a cited work says so itself.
PRAISE = frozenset(
    """impressive remarkable excellent outstanding exceptional groundbreaking seminal influential notable noteworthy
    brilliant crucial vital pivotal invaluable tremendous extraordinary revolutionary transformative superior
    unparalleled unprecedented significant important innovative valuable exciting promising powerful impactful
    successful sophisticated elegant remarkably significantly impressively tremendously""".split()
)
