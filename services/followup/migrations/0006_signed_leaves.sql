-- Each case's leaf in the latest signed checkpoint (services/followup/checkpoints.py): the
-- number of entries and the head that checkpoint signed for the case, set when a checkpoint
-- is written and only for the cases whose chain moved since. A case's history checks its
-- stored chain against it with one row read, and a dossier's inclusion proof streams them,
-- instead of reading a checkpoint's file of every case's leaves (a hundred megabytes at a
-- million cases) on every request. Empty until the next signing round marks what the
-- latest checkpoint holds.
ALTER TABLE chain_heads ADD COLUMN signed_entries integer, ADD COLUMN signed_head text;
-- what a signing round marks: the heads that moved since the last checkpoint
CREATE INDEX chain_heads_unsigned ON chain_heads (id) WHERE signed_head IS DISTINCT FROM head;
-- the leaves' order, part of the root: case ids by code point, never by the collation
CREATE INDEX chain_heads_case ON chain_heads (case_id COLLATE "C");
