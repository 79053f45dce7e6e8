-- Every case's chain head (services/followup/checkpoints.py): a projection of follow-up's
-- log that each signed checkpoint's Merkle root is made from — the number of entries in
-- the case's history and the hash of the last. Rows carry the history's version
-- (shared/projection.py never writes an older one over a newer).
CREATE TABLE chain_heads (
    id uuid PRIMARY KEY,
    version integer NOT NULL,
    case_id text NOT NULL,
    entries integer NOT NULL,
    head text NOT NULL
);
