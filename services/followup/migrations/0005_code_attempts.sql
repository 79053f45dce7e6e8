-- Wrong case codes per client address (services/followup/attempts.py): one count that every
-- copy of follow-up adds to and reads, so that running more copies allows no more guesses.
-- Rows older than the window are deleted as new ones come.
CREATE TABLE code_attempts (
    client text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX code_attempts_client ON code_attempts (client, at);
CREATE INDEX code_attempts_at ON code_attempts (at);
