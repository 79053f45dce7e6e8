-- The units an accusation is barred from (Art. 30), so that a listing leaves out what the
-- caller's department may not see before it counts and pages. The index is projected
-- again from intake's log to fill it.
DELETE FROM case_index;
DELETE FROM index_position;
ALTER TABLE case_index ADD COLUMN barred text[] NOT NULL DEFAULT '{}';
CREATE INDEX case_index_barred ON case_index USING gin (barred);
