-- Inbox rows say which catalogue rule sent a case, and a leader's list shows the cases they
-- hold personally (包案). The projection is made again from the log at the next start
-- (shared/projection.py), so every row has them.
ALTER TABLE inbox_cases
    ADD COLUMN rule_id text,
    ADD COLUMN rule_version text,
    ADD COLUMN lead text,
    ADD COLUMN leader text,
    ADD COLUMN leader_since timestamptz,
    ADD COLUMN leader_note text;
CREATE INDEX inbox_cases_leader ON inbox_cases (leader, leader_since) WHERE leader IS NOT NULL;
TRUNCATE inbox_cases, inbox_parties;
DELETE FROM projection_position WHERE name = 'inbox';
