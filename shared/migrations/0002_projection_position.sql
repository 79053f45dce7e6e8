-- How far each read model (shared/projection.py) has followed the service's notification
-- log: the rows of its tables show every aggregate as of at least this notification.
CREATE TABLE projection_position (
    name text PRIMARY KEY,
    notification_id bigint NOT NULL
);
