-- Whether a case is still open (not declined, diverted, closed or final: `Case.ended`), as a
-- column the projection writes, so "the open cases" is an index of the open ones: listing
-- and counting them no longer reads every case of a category (80,000 at a million stored
-- cases, of which 3,000 open). Existing rows get it from their status as the states were
-- when this was written; from now on the projection writes it from the domain's rule.
ALTER TABLE case_index ADD COLUMN open boolean;
UPDATE case_index SET open = NOT (status = ANY('{declined,diverted,closed,final}'));
ALTER TABLE case_index ALTER COLUMN open SET NOT NULL;
CREATE INDEX case_index_open ON case_index (category, registered_at) WHERE open;
CREATE INDEX case_index_open_registered ON case_index (registered_at) WHERE open;
