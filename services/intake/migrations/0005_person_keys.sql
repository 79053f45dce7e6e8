-- Each petitioner's own key (services/intake/erasure.py): their personal data in intake's
-- stored events is sealed under it, so destroying it erases them everywhere. A key is
-- wrapped by the data keyring; a destroyed key keeps its row (whose it was, and when it
-- was destroyed) without the key. A subject has at most one live key.
CREATE TABLE person_keys (
    key_id uuid PRIMARY KEY,
    subject text NOT NULL,
    wrapped bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz
);
CREATE UNIQUE INDEX person_keys_live ON person_keys (subject) WHERE wrapped IS NOT NULL;
