-- cronflow schema, version 2: what the scheduler needs on top of version 1.
--
-- * Deleted schedules stay as tombstones (deleted_at set, enabled 0), so that
--   their tick ledger keeps answering "why didn't it run?" and a scheduler
--   that still holds one in memory finds it gone when it tries to fire.
-- * change_seq orders every change of a schedule's definition (insert, or
--   any update that bumps revision), so a scheduler reloads only what
--   changed since the last change it saw. Fires move next_fire_at without
--   bumping revision and so cost no reload anywhere.
-- * Counters and last_status follow executions of a schedule to their final
--   status, and a queue_one execution held behind a running one is released
--   when that one ends: both by triggers, so the worker needs no code of
--   its own for schedules.

ALTER TABLE schedules ADD COLUMN deleted_at INTEGER;
ALTER TABLE schedules ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
UPDATE schedules SET change_seq = id;
CREATE INDEX schedules_changes ON schedules(change_seq);
CREATE INDEX schedules_org ON schedules(org_id, id) WHERE deleted_at IS NULL;

-- The overlap check looks only at a schedule's unfinished executions.
CREATE INDEX executions_schedule_active ON executions(schedule_id)
  WHERE schedule_id IS NOT NULL AND status IN ('queued', 'running');

CREATE TRIGGER schedules_change_insert AFTER INSERT ON schedules
BEGIN
  UPDATE schedules SET change_seq = (SELECT coalesce(max(change_seq), 0) + 1 FROM schedules)
  WHERE id = NEW.id;
END;

CREATE TRIGGER schedules_change_update AFTER UPDATE OF revision ON schedules
WHEN NEW.revision <> OLD.revision
BEGIN
  UPDATE schedules SET change_seq = (SELECT coalesce(max(change_seq), 0) + 1 FROM schedules)
  WHERE id = NEW.id;
END;

-- An execution of a schedule reached a final status: count it, and let the
-- oldest execution held behind it (queue_one; run_at 253402300799999, the
-- last millisecond of year 9999) run now.
CREATE TRIGGER executions_schedule_end AFTER UPDATE OF status ON executions
WHEN NEW.schedule_id IS NOT NULL AND OLD.status <> NEW.status
  AND NEW.status IN ('succeeded', 'failed', 'cancelled', 'timed_out')
BEGIN
  UPDATE schedules SET
    succeeded_runs = succeeded_runs + (NEW.status = 'succeeded'),
    failed_runs = failed_runs + (NEW.status IN ('failed', 'timed_out')),
    last_status = NEW.status
  WHERE id = NEW.schedule_id;
  UPDATE executions SET run_at = NEW.updated_at
  WHERE id = (SELECT id FROM executions WHERE schedule_id = NEW.schedule_id
              AND status = 'queued' AND run_at = 253402300799999 ORDER BY id LIMIT 1);
END;
