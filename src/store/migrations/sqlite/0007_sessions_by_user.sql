-- cronflow schema, version 7: a user's sessions found by user.
--
-- Disabling a user ends every session of theirs, and a new password ends
-- the user's other sessions, in the same transaction as the change
-- (sqlite_api.c). Without an index, each was a scan of every session of
-- every user; the index also serves the cascade when a user is deleted.

CREATE INDEX sessions_user ON sessions(user_id);
