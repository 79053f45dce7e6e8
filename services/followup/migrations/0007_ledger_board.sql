-- The supervision ledger lists and counts one table: each running deadline carries its
-- case's subject, the units an accusation bars and the case's path of places, so a page and
-- its count (services/followup/ledger.py, `board`) never join a row of every stored case.
-- Before, counting a department's deadlines joined each of them to its case: a tenth of a
-- second at a million stored cases. The projection writes the three with each deadline.
ALTER TABLE ledger_deadlines
    ADD COLUMN subject text,
    ADD COLUMN barred text[] NOT NULL DEFAULT '{}',
    ADD COLUMN path text[] NOT NULL DEFAULT '{}';
UPDATE ledger_deadlines d SET subject = c.subject, barred = c.barred, path = c.path
FROM ledger_cases c WHERE c.id = d.id;
-- in the board's order; what the filters read is in the index, so a count stays in it
DROP INDEX ledger_deadlines_due;
DROP INDEX ledger_deadlines_department;
CREATE INDEX ledger_deadlines_due ON ledger_deadlines (due_at, id, deadline) INCLUDE (paused);
CREATE INDEX ledger_deadlines_department
    ON ledger_deadlines (department, due_at, id, deadline) INCLUDE (paused, barred);
CREATE INDEX ledger_deadlines_path ON ledger_deadlines USING gin (path);
