-- Cases are located at a place of the centre's territory (any number of tiers), not in three
-- fixed columns. The index is a projection of intake's log: it is dropped with its position
-- and projected again from the start (services/intake/index.py catches up on its own).
DROP TABLE IF EXISTS case_index;
DROP TABLE IF EXISTS index_position;

CREATE TABLE case_index (
    case_id uuid PRIMARY KEY,
    registered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    channel text NOT NULL,
    category text NOT NULL,
    place text NOT NULL,
    path text[] NOT NULL,
    lat double precision,
    long double precision,
    petitioner_ids text[] NOT NULL,
    legal_class text,
    status text NOT NULL,
    lead text,
    repeat_count integer NOT NULL,
    external_system text
);
CREATE INDEX case_index_registered ON case_index (registered_at);
CREATE INDEX case_index_place ON case_index (category, place, registered_at);
CREATE INDEX case_index_path ON case_index USING gin (path);
CREATE INDEX case_index_petitioners ON case_index USING gin (petitioner_ids);

CREATE TABLE index_position (
    name text PRIMARY KEY,
    notification_id bigint NOT NULL
);
