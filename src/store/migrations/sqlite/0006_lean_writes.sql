-- cronflow schema, version 6: the same data, cheaper to write and to prune.
--
-- * SQLite evaluates `x IN ('a', 'b', 'c', ...)` in a CHECK constraint or a
--   trigger's WHEN by building a temporary index every time a statement
--   runs. Every write of an execution, a step, a log line or a tick is a
--   one-row statement, so those lists were about half of what running an
--   execution cost the writer. The same rules are written here with OR.
-- * A re-run's origin (executions.rerun_of) and the execution a tick made
--   (ticks.execution_id) are plain ids now, not foreign keys: deleting an
--   execution made SQLite look for rows pointing at it in both, through no
--   index, so pruning 1,000 executions from a table of 100,000 took about
--   20 s of the writer. The ids stay as a record of what happened (the
--   execution they name may have been pruned since; the API answers 404).
--
-- * The two triggers on executions' status are gone: SQLite ran each of
--   them (a sub-program with its own frame) for every claim and every
--   finish, whatever their WHEN said. The store's code does their work
--   where it is needed: the outcome write of a schedule's execution counts
--   it and releases a queue_one execution held behind it; a retry, a
--   release and a re-run record the attempt that ended. An execution's
--   final attempt is no longer copied into execution_attempts: it is read
--   from the execution itself (attempt, lease_owner, attempt_started_at,
--   finished_at, status, error), which a finish now leaves in place.
--
-- SQLite cannot change a constraint in place: the four tables are rebuilt
-- (create, copy, drop, rename), with their indexes and triggers. The
-- migration runner turns foreign keys off around every migration and
-- checks them all before it commits. Ids are kept, and so is the
-- executions id sequence, so no id is ever handed out twice.

CREATE TABLE executions_new (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  org_id            INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  workflow_id       INTEGER NOT NULL,
  workflow_version  INTEGER NOT NULL,
  schedule_id       INTEGER,
  scheduled_at      INTEGER,
  trigger_kind      TEXT NOT NULL CHECK (trigger_kind = 'manual' OR trigger_kind = 'schedule'
                      OR trigger_kind = 'webhook' OR trigger_kind = 'rerun' OR trigger_kind = 'api'),
  trigger_data      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(trigger_data)),
  status            TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status = 'queued' OR status = 'running' OR status = 'succeeded'
                      OR status = 'failed' OR status = 'cancelled' OR status = 'timed_out'),
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
  rerun_of          INTEGER,                      -- the execution this one re-runs
  resume_from       TEXT,                         -- node id a re-run starts from
  error             TEXT,
  result            TEXT CHECK (result IS NULL OR json_valid(result)),
  created_at        INTEGER NOT NULL,
  started_at        INTEGER,
  finished_at       INTEGER,
  updated_at        INTEGER NOT NULL DEFAULT 0    -- the time of the last state change
);
INSERT INTO executions_new (id, org_id, workflow_id, workflow_version, schedule_id, scheduled_at,
  trigger_kind, trigger_data, status, priority, run_at, attempt, max_attempts, backoff_ms,
  backoff_max_ms, timeout_ms, lease_owner, lease_token, lease_expires_at, attempt_started_at,
  resumes, cancel_requested, rerun_of, resume_from, error, result, created_at, started_at,
  finished_at, updated_at)
SELECT id, org_id, workflow_id, workflow_version, schedule_id, scheduled_at,
  trigger_kind, trigger_data, status, priority, run_at, attempt, max_attempts, backoff_ms,
  backoff_max_ms, timeout_ms, lease_owner, lease_token, lease_expires_at, attempt_started_at,
  resumes, cancel_requested, rerun_of, resume_from, error, result, created_at, started_at,
  finished_at, updated_at
FROM executions;
-- The sequence may be past every id still present (the newest were pruned).
DELETE FROM sqlite_sequence WHERE name = 'executions_new';
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'executions_new', max(seq) FROM sqlite_sequence WHERE name = 'executions'
  HAVING count(*) > 0;
DROP TABLE executions;
ALTER TABLE executions_new RENAME TO executions;

CREATE UNIQUE INDEX executions_fire ON executions(schedule_id, scheduled_at)
  WHERE schedule_id IS NOT NULL;
CREATE INDEX executions_queue ON executions(priority DESC, run_at, id) WHERE status = 'queued';
CREATE INDEX executions_leases ON executions(lease_expires_at) WHERE status = 'running';
CREATE INDEX executions_workflow ON executions(workflow_id, id DESC);
CREATE INDEX executions_schedule ON executions(schedule_id, id DESC) WHERE schedule_id IS NOT NULL;
CREATE INDEX executions_finished ON executions(finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX executions_schedule_active ON executions(schedule_id)
  WHERE schedule_id IS NOT NULL AND (status = 'queued' OR status = 'running');
CREATE INDEX executions_org ON executions(org_id, id DESC);

CREATE TABLE execution_steps_new (
  execution_id  INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
  node_id       TEXT NOT NULL,
  iteration     INTEGER NOT NULL DEFAULT 0,
  status        TEXT NOT NULL CHECK (status = 'running' OR status = 'succeeded'
                  OR status = 'failed' OR status = 'skipped' OR status = 'cancelled'
                  OR status = 'timed_out'),
  attempts      INTEGER NOT NULL DEFAULT 1,
  input         TEXT CHECK (input IS NULL OR json_valid(input)),
  output        TEXT CHECK (output IS NULL OR json_valid(output)),
  error         TEXT,
  started_at    INTEGER NOT NULL,
  finished_at   INTEGER,
  seq           INTEGER NOT NULL DEFAULT 0,     -- the order steps were first recorded in
  PRIMARY KEY (execution_id, node_id, iteration)
) WITHOUT ROWID;
INSERT INTO execution_steps_new (execution_id, node_id, iteration, status, attempts, input,
  output, error, started_at, finished_at, seq)
SELECT execution_id, node_id, iteration, status, attempts, input, output, error, started_at,
  finished_at, seq
FROM execution_steps;
DROP TABLE execution_steps;
ALTER TABLE execution_steps_new RENAME TO execution_steps;

CREATE TABLE execution_logs_new (
  id            INTEGER PRIMARY KEY,
  execution_id  INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
  node_id       TEXT,
  level         TEXT NOT NULL CHECK (level = 'debug' OR level = 'info' OR level = 'warn'
                  OR level = 'error'),
  message       TEXT NOT NULL,
  at            INTEGER NOT NULL
);
INSERT INTO execution_logs_new (id, execution_id, node_id, level, message, at)
SELECT id, execution_id, node_id, level, message, at FROM execution_logs;
DROP TABLE execution_logs;
ALTER TABLE execution_logs_new RENAME TO execution_logs;
CREATE INDEX execution_logs_execution ON execution_logs(execution_id, id);

CREATE TABLE ticks_new (
  id            INTEGER PRIMARY KEY,
  schedule_id   INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
  scheduled_at  INTEGER,
  outcome       TEXT NOT NULL CHECK (outcome = 'fired' OR outcome = 'skipped_overlap'
                  OR outcome = 'missed' OR outcome = 'missed_fired' OR outcome = 'replaced'
                  OR outcome = 'queued' OR outcome = 'dst_shifted' OR outcome = 'disabled'
                  OR outcome = 'enabled' OR outcome = 'changed' OR outcome = 'deleted'
                  OR outcome = 'out_of_bounds'),
  execution_id  INTEGER,                        -- the execution the fire made
  detail        TEXT NOT NULL DEFAULT '',
  recorded_at   INTEGER NOT NULL
);
INSERT INTO ticks_new (id, schedule_id, scheduled_at, outcome, execution_id, detail, recorded_at)
SELECT id, schedule_id, scheduled_at, outcome, execution_id, detail, recorded_at FROM ticks;
DROP TABLE ticks;
ALTER TABLE ticks_new RENAME TO ticks;
CREATE INDEX ticks_schedule ON ticks(schedule_id, id DESC);
CREATE INDEX ticks_recorded ON ticks(recorded_at);
