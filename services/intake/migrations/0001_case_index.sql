-- The case index (services/intake/index.py): a read model of intake's cases for duplicate
-- search, listings and Open311, with the log position it has reached beside it. Earlier
-- releases created it on first use, hence IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS case_index (
    case_id uuid PRIMARY KEY,
    registered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    channel text NOT NULL,
    category text NOT NULL,
    district text NOT NULL,
    street text NOT NULL,
    community text,
    lat double precision,
    long double precision,
    petitioner_ids text[] NOT NULL,
    legal_class text,
    status text NOT NULL,
    lead text,
    repeat_count integer NOT NULL,
    external_system text
);
CREATE INDEX IF NOT EXISTS case_index_registered ON case_index (registered_at);
CREATE INDEX IF NOT EXISTS case_index_place ON case_index (category, street, registered_at);
CREATE INDEX IF NOT EXISTS case_index_petitioners ON case_index USING gin (petitioner_ids);

CREATE TABLE IF NOT EXISTS index_position (
    name text PRIMARY KEY,
    notification_id bigint NOT NULL
);
