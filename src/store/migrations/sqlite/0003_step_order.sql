-- Steps are listed in the order they were first recorded: `seq` is given
-- once, when a step's first record is written, and kept by later updates
-- (a step recorded as running and then as succeeded keeps its place).
ALTER TABLE execution_steps ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
