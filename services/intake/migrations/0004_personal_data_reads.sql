-- Who saw whose personal data (services/intake/reads.py): appended to, never changed.
CREATE TABLE personal_data_reads (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    username text NOT NULL,
    role text NOT NULL,
    department text,
    operation text NOT NULL,
    case_id text,
    petitioner_ids text[] NOT NULL,
    correlation_id text
);
CREATE INDEX personal_data_reads_at ON personal_data_reads (at);
CREATE INDEX personal_data_reads_petitioners ON personal_data_reads USING gin (petitioner_ids);
CREATE INDEX personal_data_reads_user ON personal_data_reads (username, at);
