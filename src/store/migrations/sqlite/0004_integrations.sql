-- Integrations: credentials may be read-only (database_query runs their
-- statements in read-only transactions); saved e-mail templates per
-- organization; and the e-mail log, one row per message sent or failed.

ALTER TABLE credentials ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;

CREATE TABLE email_templates (
  id          INTEGER PRIMARY KEY,
  org_id      INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  subject     TEXT NOT NULL DEFAULT '',
  text_body   TEXT NOT NULL DEFAULT '',
  html_body   TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  UNIQUE (org_id, name)
);

-- Kept when the execution is pruned: the log is the record of what was
-- sent. recipients is a JSON object {"to": [...], "cc": [...], "bcc": [...]}.
CREATE TABLE email_log (
  id            INTEGER PRIMARY KEY,
  org_id        INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  execution_id  INTEGER,
  node_id       TEXT,
  status        TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
  sender        TEXT NOT NULL DEFAULT '',
  recipients    TEXT NOT NULL DEFAULT '{}',
  subject       TEXT NOT NULL DEFAULT '',
  message_id    TEXT,
  smtp_response TEXT,
  error         TEXT,
  at            INTEGER NOT NULL
);
CREATE INDEX email_log_org_at ON email_log (org_id, id DESC);
CREATE INDEX email_log_execution ON email_log (execution_id);
