-- The destroyed person keys, counted by every intake process about once a second: a key
-- another process destroyed (an erasure) is then forgotten from memory here too
-- (services/intake/erasure.py, `Sealer`). Erasures are rare, so the count reads a small
-- index, however many people the table holds.
CREATE INDEX person_keys_destroyed ON person_keys (key_id) WHERE wrapped IS NULL;
