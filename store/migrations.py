"""Numbered schema migrations (sqlite-utils `Migrations`): each runs in its own transaction, in order, once.

Never edit a migration that has shipped: add the next number.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("enrich")

NEVER_OVERRIDE_TRIGGERS = """
CREATE TRIGGER field_values_append_only_update BEFORE UPDATE ON field_values
BEGIN SELECT RAISE(ABORT, 'field_values is append-only: write a new value through the store'); END;

CREATE TRIGGER field_values_append_only_delete BEFORE DELETE ON field_values
BEGIN SELECT RAISE(ABORT, 'field_values is append-only: values are never deleted'); END;

-- A model may only propose, or fill an empty field as `generated`; a person's acceptance is a separate row.
CREATE TRIGGER field_values_writer_status BEFORE INSERT ON field_values
WHEN (NEW.origin LIKE 'llm:%' AND NEW.status NOT IN ('proposed', 'generated', 'accepted', 'rejected'))
  OR (NEW.origin LIKE 'import:%' AND NEW.status NOT IN ('imported', 'proposed', 'accepted', 'rejected'))
  OR (NEW.status = 'verified' AND NEW.origin NOT LIKE 'human:%')
BEGIN SELECT RAISE(ABORT, 'never-override: this origin cannot write a value with this status'); END;

-- The current value must be an applied one.
CREATE TRIGGER current_values_applied_insert BEFORE INSERT ON current_values
WHEN (SELECT status FROM field_values WHERE id = NEW.value_id) NOT IN ('verified', 'imported', 'generated', 'accepted')
  OR (SELECT researcher_id FROM field_values WHERE id = NEW.value_id) IS NOT NEW.researcher_id
  OR (SELECT field FROM field_values WHERE id = NEW.value_id) IS NOT NEW.field
BEGIN SELECT RAISE(ABORT, 'current value must be an applied value of the same researcher and field'); END;

CREATE TRIGGER current_values_applied_update BEFORE UPDATE ON current_values
WHEN (SELECT status FROM field_values WHERE id = NEW.value_id) NOT IN ('verified', 'imported', 'generated', 'accepted')
  OR NEW.researcher_id IS NOT OLD.researcher_id OR NEW.field IS NOT OLD.field
  OR (SELECT researcher_id FROM field_values WHERE id = NEW.value_id) IS NOT NEW.researcher_id
  OR (SELECT field FROM field_values WHERE id = NEW.value_id) IS NOT NEW.field
BEGIN SELECT RAISE(ABORT, 'current value must be an applied value of the same researcher and field'); END;

-- `generated` only ever fills an empty field.
CREATE TRIGGER current_values_generated_only_empty BEFORE UPDATE ON current_values
WHEN (SELECT status FROM field_values WHERE id = NEW.value_id) = 'generated' AND NEW.value_id IS NOT OLD.value_id
BEGIN SELECT RAISE(ABORT, 'never-override: a generated value only fills an empty field'); END;

-- The last line of the never-override rule: a verified or accepted value changes only through a review action,
-- whose audit row (a person, this exact transition) is written first in the same transaction.
CREATE TRIGGER current_values_never_override BEFORE UPDATE ON current_values
WHEN (SELECT status FROM field_values WHERE id = OLD.value_id) IN ('verified', 'accepted')
 AND NEW.value_id IS NOT OLD.value_id
 AND NOT EXISTS (
   SELECT 1 FROM audit_log a
   WHERE a.id = (SELECT max(id) FROM audit_log WHERE researcher_id = OLD.researcher_id AND field = OLD.field)
     AND a.actor LIKE 'human:%' AND a.before_value_id IS OLD.value_id AND a.after_value_id IS NEW.value_id)
BEGIN SELECT RAISE(ABORT, 'never-override: a verified or accepted value can only be changed by a review action'); END;

CREATE TRIGGER current_values_never_override_delete BEFORE DELETE ON current_values
WHEN (SELECT status FROM field_values WHERE id = OLD.value_id) IN ('verified', 'accepted')
 AND NOT EXISTS (
   SELECT 1 FROM audit_log a
   WHERE a.id = (SELECT max(id) FROM audit_log WHERE researcher_id = OLD.researcher_id AND field = OLD.field)
     AND a.actor LIKE 'human:%' AND a.before_value_id IS OLD.value_id AND a.after_value_id IS NULL)
BEGIN SELECT RAISE(ABORT, 'never-override: a verified or accepted value can only be removed by a review action'); END;

CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"""


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
CREATE TABLE researchers (
  id INTEGER PRIMARY KEY,
  name TEXT,
  name_origin TEXT,
  split_from INTEGER REFERENCES researchers(id),
  single_person INTEGER,
  created_at TEXT NOT NULL
);
CREATE TABLE listings (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL UNIQUE,
  format TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('person', 'feed')),
  text TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  previous_id INTEGER REFERENCES listings(id),
  researcher_id INTEGER REFERENCES researchers(id),
  facts TEXT NOT NULL DEFAULT '{}',
  hints TEXT NOT NULL DEFAULT '[]',
  stated_work_count INTEGER,
  imported_at TEXT NOT NULL
);
CREATE INDEX listings_path ON listings(path);
-- Which works of which listing belong to a researcher (works NULL = all of them; a split lists its cluster).
CREATE TABLE researcher_listings (
  researcher_id INTEGER NOT NULL REFERENCES researchers(id),
  listing_id INTEGER NOT NULL REFERENCES listings(id),
  works TEXT,
  PRIMARY KEY (researcher_id, listing_id)
);
CREATE TABLE works (
  listing_id INTEGER NOT NULL REFERENCES listings(id),
  ordinal INTEGER NOT NULL,
  work_id TEXT NOT NULL,
  title TEXT, year INTEGER, date TEXT, venue TEXT, type TEXT, category TEXT,
  authors TEXT NOT NULL DEFAULT '[]', authors_truncated INTEGER NOT NULL DEFAULT 0, author_count INTEGER,
  abstract TEXT, ids TEXT NOT NULL DEFAULT '{}', bylines TEXT NOT NULL DEFAULT '[]',
  start INTEGER, "end" INTEGER,
  PRIMARY KEY (listing_id, ordinal),
  UNIQUE (listing_id, work_id)
);
CREATE INDEX works_work_id ON works(work_id);
CREATE TABLE field_values (
  id INTEGER PRIMARY KEY,
  researcher_id INTEGER NOT NULL REFERENCES researchers(id),
  field TEXT NOT NULL,
  value TEXT NOT NULL,
  value_hash TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('verified','imported','generated','proposed','accepted','rejected','superseded')),
  origin TEXT NOT NULL CHECK (origin LIKE 'human:_%' OR origin LIKE 'import:_%' OR origin LIKE 'llm:_%'),
  confidence REAL CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
  evidence TEXT NOT NULL DEFAULT '[]',
  prompt_version TEXT,
  llm_call_id INTEGER,
  job_id TEXT,
  listing_id INTEGER REFERENCES listings(id),
  created_at TEXT NOT NULL
);
CREATE INDEX field_values_rf ON field_values(researcher_id, field);
CREATE TABLE current_values (
  researcher_id INTEGER NOT NULL REFERENCES researchers(id),
  field TEXT NOT NULL,
  value_id INTEGER NOT NULL REFERENCES field_values(id),
  PRIMARY KEY (researcher_id, field)
);
CREATE TABLE derived_facts (
  id INTEGER PRIMARY KEY,
  value_id INTEGER NOT NULL REFERENCES field_values(id),
  kind TEXT NOT NULL,
  value TEXT,
  origin TEXT NOT NULL,
  confidence REAL,
  detail TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL
);
CREATE INDEX derived_facts_value ON derived_facts(value_id, kind);
CREATE TABLE proposals (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('field', 'split', 'merge')),
  researcher_id INTEGER REFERENCES researchers(id),
  field TEXT,
  value_id INTEGER REFERENCES field_values(id),
  current_value_id INTEGER REFERENCES field_values(id),
  payload TEXT NOT NULL DEFAULT '{}',
  summary TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  confidence REAL,
  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'rejected', 'withdrawn')),
  job_id TEXT,
  created_at TEXT NOT NULL,
  decided_at TEXT,
  decided_by TEXT,
  result_value_id INTEGER REFERENCES field_values(id)
);
CREATE INDEX proposals_state ON proposals(state, researcher_id, field);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '{}',
  cursor INTEGER NOT NULL DEFAULT 0,
  todo TEXT NOT NULL DEFAULT '[]',
  counts TEXT NOT NULL DEFAULT '{}',
  tokens_in INTEGER NOT NULL DEFAULT 0,
  tokens_out INTEGER NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  error TEXT,
  started_at TEXT NOT NULL,
  finished_at TEXT
);
CREATE TABLE llm_calls (
  id INTEGER PRIMARY KEY,
  call_group TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  backend TEXT NOT NULL,
  model TEXT NOT NULL,
  mode TEXT,
  prompt_name TEXT,
  prompt_version TEXT,
  schema_name TEXT,
  input_hash TEXT,
  messages TEXT NOT NULL DEFAULT '[]',
  response TEXT,
  parsed TEXT,
  error TEXT,
  tokens_in INTEGER NOT NULL DEFAULT 0,
  tokens_out INTEGER NOT NULL DEFAULT 0,
  latency_ms REAL NOT NULL DEFAULT 0,
  retries INTEGER NOT NULL DEFAULT 0,
  reasks INTEGER NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  cached INTEGER NOT NULL DEFAULT 0,
  job_id TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX llm_calls_group ON llm_calls(call_group);
CREATE TABLE llm_cache (
  key TEXT PRIMARY KEY,
  parsed TEXT NOT NULL,
  llm_call_id INTEGER,
  created_at TEXT NOT NULL
);
CREATE TABLE conflation (
  listing_id INTEGER NOT NULL REFERENCES listings(id),
  researcher_id INTEGER REFERENCES researchers(id),
  detected INTEGER NOT NULL,
  confidence REAL NOT NULL,
  clusters TEXT NOT NULL DEFAULT '[]',
  method TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (listing_id, method)
);
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  researcher_id INTEGER,
  field TEXT,
  proposal_id INTEGER,
  before_value_id INTEGER,
  after_value_id INTEGER,
  before TEXT,
  after TEXT,
  job_id TEXT,
  undoes INTEGER REFERENCES audit_log(id),
  created_at TEXT NOT NULL
);
CREATE INDEX audit_log_rf ON audit_log(researcher_id, field);
CREATE INDEX audit_log_job ON audit_log(job_id);
"""
        + NEVER_OVERRIDE_TRIGGERS
    )


def apply(db: Database) -> None:
    migrations.apply(db)


@migrations()
def m002_ror(db: Database) -> None:
    """The local ROR index (organisations, their names with an FTS5 index, domains, and the dumps loaded)."""
    db.executescript(
        """
CREATE TABLE ror_orgs (
  ror_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  city TEXT, region TEXT, country TEXT, country_code TEXT,
  types TEXT NOT NULL DEFAULT '[]',
  is_child INTEGER NOT NULL DEFAULT 0,
  schema TEXT NOT NULL,
  release TEXT NOT NULL
);
CREATE TABLE ror_names (
  id INTEGER PRIMARY KEY,
  ror_id TEXT NOT NULL,
  value TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('name', 'alias', 'acronym', 'label')),
  lang TEXT,
  key TEXT NOT NULL
);
CREATE INDEX ror_names_key ON ror_names(key);
CREATE INDEX ror_names_org ON ror_names(ror_id);
CREATE VIRTUAL TABLE ror_names_fts USING fts5(
  key, content='ror_names', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE ror_domains (
  domain TEXT NOT NULL,
  ror_id TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('domains', 'link')),
  PRIMARY KEY (domain, ror_id)
);
CREATE INDEX ror_domains_org ON ror_domains(ror_id);
CREATE TABLE ror_imports (
  id INTEGER PRIMARY KEY,
  release TEXT NOT NULL,
  source TEXT NOT NULL,
  schema TEXT NOT NULL,
  records INTEGER NOT NULL,
  names INTEGER NOT NULL,
  domains INTEGER NOT NULL,
  seconds REAL NOT NULL,
  imported_at TEXT NOT NULL
);
"""
    )


@migrations()
def m003_restore_generated(db: Database) -> None:
    """An undo or a job rollback may put back a value that was `generated` before (e.g. undo a person's set over
    it); only a model write may not put one over an applied value."""
    db.executescript(
        """
DROP TRIGGER current_values_generated_only_empty;
CREATE TRIGGER current_values_generated_only_empty BEFORE UPDATE ON current_values
WHEN (SELECT status FROM field_values WHERE id = NEW.value_id) = 'generated' AND NEW.value_id IS NOT OLD.value_id
 AND NOT EXISTS (
   SELECT 1 FROM audit_log a
   WHERE a.id = (SELECT max(id) FROM audit_log WHERE researcher_id = OLD.researcher_id AND field = OLD.field)
     AND a.actor LIKE 'human:%' AND a.action IN ('undo', 'rollback')
     AND a.before_value_id IS OLD.value_id AND a.after_value_id IS NEW.value_id)
BEGIN SELECT RAISE(ABORT, 'never-override: a generated value only fills an empty field'); END;
"""
    )


@migrations()
def m004_step_misses(db: Database) -> None:
    """The last run of a field step per researcher that asked the model and got no value (it failed, or the model
    found none), with what it was computed from: a re-run with the same listings, prompt version and model does
    not ask again (`enrich run --retry-failed` does)."""
    db.executescript(
        """
CREATE TABLE step_misses (
  researcher_id INTEGER NOT NULL REFERENCES researchers(id),
  field TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('failed', 'none')),
  origin TEXT NOT NULL,
  asked_with TEXT NOT NULL,
  listing_ids TEXT NOT NULL DEFAULT '[]',
  detail TEXT NOT NULL,
  job_id TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (researcher_id, field)
);
"""
    )


@migrations()
def m005_merged_into(db: Database) -> None:
    """A researcher merged into another (accepted merge proposal) keeps its id and history but leaves the lists
    and the export."""
    db.executescript("ALTER TABLE researchers ADD COLUMN merged_into INTEGER REFERENCES researchers(id);")


@migrations()
def m007_ror_relationships(db: Database) -> None:
    """ROR `relationships` (parent, child, related, successor, predecessor) of each loaded record: the matcher
    prefers a child record (a medical school, a hospital) the text names over its parent, and reads the parent
    when only a part without its own record is named."""
    db.executescript(
        """
CREATE TABLE IF NOT EXISTS ror_relationships (
  ror_id TEXT NOT NULL,
  type TEXT NOT NULL,
  related_id TEXT NOT NULL,
  PRIMARY KEY (ror_id, type, related_id)
);
CREATE INDEX IF NOT EXISTS ror_relationships_related ON ror_relationships(related_id);
"""
    )


@migrations()
def m009_scale(db: Database) -> None:
    """A platform's worth of profiles: the platform's own record id on a listing (`external_id`); indexes for the
    keyset-paged review queue (one per filter, each ending in id), for `export --since` (creation times) and for
    listing -> researcher look-ups; `work_keys` (normalised title / abstract keys of every work, filled on import)
    so merge detection finds listings sharing a work through an index instead of comparing every pair;
    `merge_members` (who a merge proposal groups) so a group is proposed and reviewed once."""
    db.executescript(
        """
ALTER TABLE listings ADD COLUMN external_id TEXT;
CREATE INDEX listings_external_id ON listings(external_id) WHERE external_id IS NOT NULL;
CREATE INDEX listings_imported_at ON listings(imported_at);
CREATE INDEX researcher_listings_listing ON researcher_listings(listing_id);
CREATE INDEX proposals_queue ON proposals(state, id);
CREATE INDEX proposals_queue_kind ON proposals(state, kind, id);
CREATE INDEX proposals_queue_field ON proposals(state, field, id);
CREATE INDEX proposals_queue_job ON proposals(state, job_id, id);
CREATE INDEX proposals_queue_researcher ON proposals(state, coalesce(researcher_id, 0), id);
CREATE INDEX proposals_queue_confidence ON proposals(state, coalesce(confidence, 0) DESC, id);
CREATE INDEX proposals_decided_at ON proposals(decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX field_values_created_at ON field_values(created_at);
CREATE INDEX audit_log_created_at ON audit_log(created_at);
CREATE TABLE work_keys (
  key TEXT NOT NULL,
  listing_id INTEGER NOT NULL REFERENCES listings(id),
  work_id TEXT NOT NULL,
  PRIMARY KEY (key, listing_id, work_id)
) WITHOUT ROWID;
CREATE INDEX work_keys_listing ON work_keys(listing_id);
CREATE TABLE merge_members (
  researcher_id INTEGER NOT NULL REFERENCES researchers(id),
  proposal_id INTEGER NOT NULL REFERENCES proposals(id),
  PRIMARY KEY (researcher_id, proposal_id)
) WITHOUT ROWID;
CREATE INDEX merge_members_proposal ON merge_members(proposal_id);
"""
    )
    from .work_keys import backfill

    backfill(db)


@migrations()
def m010_batches(db: Database) -> None:
    """Bulk mode (`enrich run --batch`): the request files of a job and the batches they were submitted as, one row
    per request (custom_id) with what the collector did with its answer, and the batch id + custom_id on each
    llm_calls row an answer became."""
    db.executescript(
        """
CREATE TABLE batch_files (
  id INTEGER PRIMARY KEY,
  job_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  path TEXT NOT NULL,
  requests INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  input_file_id TEXT,
  batch_id TEXT UNIQUE,
  status TEXT NOT NULL,
  output_file_id TEXT,
  error_file_id TEXT,
  detail TEXT,
  created_at TEXT NOT NULL,
  collected_at TEXT
);
CREATE INDEX batch_files_job ON batch_files(job_id);
CREATE TABLE batch_requests (
  custom_id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  file_id INTEGER REFERENCES batch_files(id),
  researcher_id INTEGER NOT NULL REFERENCES researchers(id),
  step TEXT NOT NULL,
  round INTEGER NOT NULL,
  first_hash TEXT NOT NULL,
  body TEXT,
  tokens_in INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'reasked', 'failed', 'error', 'stale')),
  detail TEXT,
  llm_call_id INTEGER,
  done_at TEXT
);
CREATE INDEX batch_requests_job ON batch_requests(job_id, state);
CREATE INDEX batch_requests_file ON batch_requests(file_id);
ALTER TABLE llm_calls ADD COLUMN batch_id TEXT;
ALTER TABLE llm_calls ADD COLUMN custom_id TEXT;
CREATE INDEX llm_calls_custom_id ON llm_calls(custom_id);
"""
    )


@migrations()
def m006_job_errors(db: Database) -> None:
    """Errors a job caught and went on from (one researcher's step raised), after datasette-enrichments' errors
    table; and which process runs a job (pid, host), so a job whose process is gone reads as interrupted."""
    db.executescript(
        """
CREATE TABLE job_errors (
  id INTEGER PRIMARY KEY,
  job_id TEXT NOT NULL,
  researcher_id INTEGER REFERENCES researchers(id),
  step TEXT,
  error_type TEXT NOT NULL,
  message TEXT NOT NULL,
  location TEXT,
  traceback TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX job_errors_job ON job_errors(job_id);
CREATE INDEX job_errors_researcher ON job_errors(researcher_id);
ALTER TABLE jobs ADD COLUMN pid INTEGER;
ALTER TABLE jobs ADD COLUMN host TEXT;
"""
    )


@migrations()
def m011_compact_work_keys(db: Database) -> None:
    """Work keys in 8-byte integers and a work's ordinal instead of its id text (about half the bytes of the
    largest index), built lazily: an import writes none, merge detection keys the listings past
    `work_keys_state.upto` first (store/work_keys.catch_up), in key order. The existing keys are dropped and built
    again that way. The index of works by work id alone served no query."""
    db.executescript(
        """
DROP INDEX IF EXISTS works_work_id;
DROP TABLE work_keys;
CREATE TABLE work_keys (
  key INTEGER NOT NULL,
  listing_id INTEGER NOT NULL,
  ordinal INTEGER NOT NULL,
  PRIMARY KEY (key, listing_id, ordinal)
) WITHOUT ROWID;
CREATE INDEX work_keys_listing ON work_keys(listing_id);
CREATE TABLE work_keys_state (id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL);
INSERT INTO work_keys_state (id, upto) VALUES (1, 0);
"""
    )


@migrations()
def m012_title_keys_first(db: Database) -> None:
    """Work keys carry their kind in the top bits (titles sort first, so merge detection meets them before the
    abstract keys): the keys are built again by the next merge detection."""
    db.executescript(
        """
DELETE FROM work_keys;
UPDATE work_keys_state SET upto = 0;
"""
    )


@migrations()
def m013_protected_values(db: Database) -> None:
    """The few values a person stands behind (verified, accepted), by field: a bulk decision's confirmation counts
    the proposals that would meet one from this side, not by joining every matching proposal."""
    db.executescript(
        """
CREATE INDEX field_values_protected ON field_values(field, researcher_id) WHERE status IN ('verified', 'accepted');
"""
    )
