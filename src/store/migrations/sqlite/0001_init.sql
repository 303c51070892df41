-- cronflow schema, version 1: everything the mission needs, in one place.
--
-- Conventions: ids are 64-bit integers; times are milliseconds since the
-- Unix epoch, UTC; JSON documents are stored as text and checked with
-- json_valid; every row belongs to an organization. Scheduled fires are
-- keyed by (schedule_id, scheduled_at), unique, so one fire can never make
-- two executions.

CREATE TABLE organizations (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);

CREATE TABLE users (
  id             INTEGER PRIMARY KEY,
  org_id         INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  email          TEXT NOT NULL UNIQUE COLLATE NOCASE,
  name           TEXT NOT NULL DEFAULT '',
  password_hash  TEXT,
  role           TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  created_at     INTEGER NOT NULL,
  disabled_at    INTEGER
);

CREATE TABLE api_tokens (
  id            INTEGER PRIMARY KEY,
  org_id        INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  prefix        TEXT NOT NULL,            -- shown to people to tell tokens apart
  token_hash    BLOB NOT NULL UNIQUE,     -- never the token itself
  scopes        TEXT NOT NULL DEFAULT '*',
  created_at    INTEGER NOT NULL,
  last_used_at  INTEGER,
  expires_at    INTEGER,
  revoked_at    INTEGER
);

CREATE TABLE workflows (
  id               INTEGER PRIMARY KEY,
  org_id           INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  name             TEXT NOT NULL,
  description      TEXT NOT NULL DEFAULT '',
  current_version  INTEGER NOT NULL DEFAULT 1,
  webhook_secret   BLOB,                  -- hash of the /hooks/{secret} value
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  deleted_at       INTEGER
);
CREATE INDEX workflows_org ON workflows(org_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX workflows_webhook ON workflows(webhook_secret) WHERE webhook_secret IS NOT NULL;

-- Versions are immutable: an update inserts a new row.
CREATE TABLE workflow_versions (
  workflow_id  INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  version      INTEGER NOT NULL,
  definition   TEXT NOT NULL CHECK (json_valid(definition)),
  created_at   INTEGER NOT NULL,
  created_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
  PRIMARY KEY (workflow_id, version)
) WITHOUT ROWID;

CREATE TABLE schedules (
  id              INTEGER PRIMARY KEY,
  org_id          INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  workflow_id     INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  cron            TEXT NOT NULL,
  timezone        TEXT NOT NULL DEFAULT 'UTC',
  enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  misfire_policy  TEXT NOT NULL DEFAULT 'once' CHECK (misfire_policy IN ('skip', 'once', 'all')),
  misfire_limit   INTEGER NOT NULL DEFAULT 100,   -- the cap for 'all'
  overlap_policy  TEXT NOT NULL DEFAULT 'skip' CHECK (overlap_policy IN ('allow', 'skip', 'queue_one', 'replace')),
  grace_ms        INTEGER NOT NULL DEFAULT 60000,
  jitter_ms       INTEGER NOT NULL DEFAULT 0,
  starts_at       INTEGER,
  ends_at         INTEGER,
  input           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(input)),
  next_fire_at    INTEGER,                -- the cursor: the next instant to fire
  last_fire_at    INTEGER,
  last_status     TEXT,
  total_runs      INTEGER NOT NULL DEFAULT 0,
  succeeded_runs  INTEGER NOT NULL DEFAULT 0,
  failed_runs     INTEGER NOT NULL DEFAULT 0,
  revision        INTEGER NOT NULL DEFAULT 1, -- bumped on every change
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules(next_fire_at) WHERE enabled = 1;
CREATE INDEX schedules_workflow ON schedules(workflow_id);

-- Executions are the queue. A worker claims a row by setting its lease;
-- lease_token goes up on every claim and fences out a late owner.
CREATE TABLE executions (
  -- AUTOINCREMENT: an id is never handed out twice, even after pruning, so
  -- a stale (id, lease_token) can never match a newer execution.
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  org_id            INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  workflow_id       INTEGER NOT NULL,
  workflow_version  INTEGER NOT NULL,
  schedule_id       INTEGER,
  scheduled_at      INTEGER,
  trigger_kind      TEXT NOT NULL CHECK (trigger_kind IN ('manual', 'schedule', 'webhook', 'rerun', 'api')),
  trigger_data      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(trigger_data)),
  status            TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
  priority          INTEGER NOT NULL DEFAULT 0,
  run_at            INTEGER NOT NULL,
  attempt           INTEGER NOT NULL DEFAULT 0,   -- attempts started
  max_attempts      INTEGER NOT NULL DEFAULT 1,
  backoff_ms        INTEGER NOT NULL DEFAULT 1000,
  backoff_max_ms    INTEGER NOT NULL DEFAULT 300000,
  timeout_ms        INTEGER,
  lease_owner       TEXT,
  lease_token       INTEGER NOT NULL DEFAULT 0,
  lease_expires_at  INTEGER,
  attempt_started_at INTEGER,                     -- when the current attempt was claimed
  resumes           INTEGER NOT NULL DEFAULT 0,   -- claims after a lost lease
  cancel_requested  INTEGER NOT NULL DEFAULT 0,
  rerun_of          INTEGER REFERENCES executions(id) ON DELETE SET NULL,
  resume_from       TEXT,                 -- node id a re-run starts from
  error             TEXT,
  result            TEXT CHECK (result IS NULL OR json_valid(result)),
  created_at        INTEGER NOT NULL,
  started_at        INTEGER,
  finished_at       INTEGER,
  updated_at        INTEGER NOT NULL DEFAULT 0    -- the time of the last state change
);
-- One execution per fire; executions that are not fires stay out of it.
CREATE UNIQUE INDEX executions_fire ON executions(schedule_id, scheduled_at)
  WHERE schedule_id IS NOT NULL;
CREATE INDEX executions_queue ON executions(priority DESC, run_at, id) WHERE status = 'queued';
CREATE INDEX executions_leases ON executions(lease_expires_at) WHERE status = 'running';
CREATE INDEX executions_workflow ON executions(workflow_id, id DESC);
CREATE INDEX executions_schedule ON executions(schedule_id, id DESC) WHERE schedule_id IS NOT NULL;
CREATE INDEX executions_finished ON executions(finished_at) WHERE finished_at IS NOT NULL;

-- One row per attempt of an execution: when it ran, how it ended, and the
-- backoff chosen before the next one.
CREATE TABLE execution_attempts (
  execution_id  INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
  attempt       INTEGER NOT NULL,
  lease_owner   TEXT,
  started_at    INTEGER NOT NULL,
  finished_at   INTEGER,
  status        TEXT,
  error         TEXT,
  backoff_ms    INTEGER,
  PRIMARY KEY (execution_id, attempt)
) WITHOUT ROWID;

-- An attempt is recorded when it ends: when its execution leaves 'running'
-- (finished, queued again for a retry, or given back). Done by a trigger, so
-- that the state change and its record are one statement and can never be
-- half-applied. A release (attempt counted back) is recorded as 'released'.
CREATE TRIGGER executions_attempt_end AFTER UPDATE OF status ON executions
WHEN OLD.status = 'running' AND NEW.status <> 'running'
BEGIN
  INSERT OR REPLACE INTO execution_attempts
    (execution_id, attempt, lease_owner, started_at, finished_at, status, error, backoff_ms)
  VALUES (
    NEW.id, OLD.attempt, OLD.lease_owner, coalesce(OLD.attempt_started_at, NEW.updated_at),
    NEW.updated_at,
    CASE WHEN NEW.status <> 'queued' THEN NEW.status
         WHEN NEW.attempt < OLD.attempt THEN 'released'
         ELSE 'failed' END,
    CASE WHEN NEW.status = 'queued' AND NEW.attempt < OLD.attempt THEN NULL ELSE NEW.error END,
    CASE WHEN NEW.status = 'queued' AND NEW.attempt = OLD.attempt
         THEN max(NEW.run_at - NEW.updated_at, 0) END);
END;

-- Step checkpoints: a step that succeeded is never run again for the same
-- execution; its output is reused on resume.
CREATE TABLE execution_steps (
  execution_id  INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
  node_id       TEXT NOT NULL,
  iteration     INTEGER NOT NULL DEFAULT 0,
  status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'cancelled', 'timed_out')),
  attempts      INTEGER NOT NULL DEFAULT 1,
  input         TEXT CHECK (input IS NULL OR json_valid(input)),
  output        TEXT CHECK (output IS NULL OR json_valid(output)),
  error         TEXT,
  started_at    INTEGER NOT NULL,
  finished_at   INTEGER,
  PRIMARY KEY (execution_id, node_id, iteration)
) WITHOUT ROWID;

CREATE TABLE execution_logs (
  id            INTEGER PRIMARY KEY,
  execution_id  INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
  node_id       TEXT,
  level         TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
  message       TEXT NOT NULL,
  at            INTEGER NOT NULL
);
CREATE INDEX execution_logs_execution ON execution_logs(execution_id, id);

-- The tick ledger: every expected fire and what became of it, and the
-- schedule's own events (enabled, disabled, changed), so that "why didn't
-- it run?" has an answer.
CREATE TABLE ticks (
  id            INTEGER PRIMARY KEY,
  schedule_id   INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
  scheduled_at  INTEGER,
  outcome       TEXT NOT NULL CHECK (outcome IN ('fired', 'skipped_overlap', 'missed', 'missed_fired',
                                               'replaced', 'queued', 'dst_shifted', 'disabled',
                                               'enabled', 'changed', 'deleted', 'out_of_bounds')),
  execution_id  INTEGER REFERENCES executions(id) ON DELETE SET NULL,
  detail        TEXT NOT NULL DEFAULT '',
  recorded_at   INTEGER NOT NULL
);
CREATE INDEX ticks_schedule ON ticks(schedule_id, id DESC);
CREATE INDEX ticks_recorded ON ticks(recorded_at);

CREATE TABLE credentials (
  id          INTEGER PRIMARY KEY,
  org_id      INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  type        TEXT NOT NULL CHECK (type IN ('smtp', 'slack', 'http_header', 'bearer', 'basic', 'postgres', 'sqlite')),
  nonce       BLOB NOT NULL,
  ciphertext  BLOB NOT NULL,              -- libsodium secretbox of the JSON data
  fields_set  TEXT NOT NULL DEFAULT '[]', -- names of the fields, never values
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  UNIQUE (org_id, name)
);

-- The organization every single-tenant install starts with.
INSERT INTO organizations (id, name, created_at) VALUES (1, 'default', CAST(strftime('%s', 'now') AS INTEGER) * 1000);
