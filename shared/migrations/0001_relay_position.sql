-- The relay's position in the service's notification log, per Kafka topic: the last
-- notification the broker acknowledged (shared.kafka.Relay). Earlier releases created it
-- at the relay's start, hence IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS relay_position (
    topic text PRIMARY KEY,
    notification_id bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
