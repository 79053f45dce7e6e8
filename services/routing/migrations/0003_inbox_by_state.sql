-- A department's inbox by state (accepted, objected, …), newest first, and its count, from
-- one index: before, the state was read from each of the department's rows (180,000 of
-- them at a million stored cases).
CREATE INDEX inbox_parties_state ON inbox_parties (department, state, since DESC, id DESC);
