-- cronflow schema: what the REST API needs (issue 6).
--
-- * Roles. The API speaks of admin, editor and viewer. users.role keeps
--   the names of version 1 (its CHECK cannot change without rebuilding the
--   table, which would cascade to api_tokens): 'owner' and 'admin' are
--   admin, 'member' is editor, 'viewer' is viewer. Tokens get their own
--   role column with the API's names.
-- * Sessions of the web UI: the cookie's value is never stored, only its
--   hash (as for tokens); the CSRF token is compared with the X-CSRF-Token
--   header of every state-changing request.
-- * Organization names are unique: the CLI and the login find them by name.

ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'
  CHECK (role IN ('admin', 'editor', 'viewer'));
CREATE INDEX api_tokens_org ON api_tokens(org_id, id);

CREATE UNIQUE INDEX organizations_name ON organizations(name);

CREATE TABLE sessions (
  id            INTEGER PRIMARY KEY,
  token_hash    BLOB NOT NULL UNIQUE,
  user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  csrf_token    TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- Listing an organization's executions newest first.
CREATE INDEX executions_org ON executions(org_id, id DESC);
