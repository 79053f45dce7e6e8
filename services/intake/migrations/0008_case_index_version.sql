-- The version of the case each row shows, so that a row is never replaced by an older
-- version of its case: with two intake processes projecting the same log (each catches up
-- in its own time), the one behind could write a case as it was over the row the other had
-- just brought up to date, and nothing would correct it until the case changed again. Rows
-- already here are taken as version 0: the next projection of their case replaces them.
ALTER TABLE case_index ADD COLUMN version integer NOT NULL DEFAULT 0;
