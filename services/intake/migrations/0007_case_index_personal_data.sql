-- Whether a case still holds someone's personal data (a petitioner not yet erased), so the
-- retention sweep (IntakeApplication.erase_expired) reads only the ended cases past the
-- retention period that still do, from an index, instead of loading every ended case every
-- hour (926,000 at a million stored cases). Rows already here are taken to hold some: the
-- sweep looks at each of them once more, and the projection writes the truth from then on.
ALTER TABLE case_index ADD COLUMN personal_data boolean NOT NULL DEFAULT true;
CREATE INDEX case_index_retention ON case_index (updated_at) WHERE NOT open AND personal_data;
