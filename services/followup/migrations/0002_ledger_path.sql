-- The ledger lists deadlines of the cases at a place or within it (a place of any tier):
-- each case's path of places. The projection is made again from the log at the next start
-- (shared/projection.py), so every row has it.
ALTER TABLE ledger_cases ADD COLUMN path text[] NOT NULL DEFAULT '{}';
CREATE INDEX ledger_cases_path ON ledger_cases USING gin (path);
TRUNCATE ledger_cases, ledger_deadlines;
DELETE FROM projection_position WHERE name = 'ledger';
