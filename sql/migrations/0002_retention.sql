-- outbox-relay schema, version 2: indexes for purging old rows (`outbox-relay purge`, and the daemon's
-- --retain-sent / --retain-dead). Without them each purge batch would walk the whole table to find the
-- oldest sent or dead rows; with them it reads just the rows it deletes. Partial, so they hold only those
-- rows: the pending and in-flight rows that the relay's hot path touches are not in them.
--
-- Built inside the migration's transaction (CREATE INDEX CONCURRENTLY cannot be), which blocks writes to
-- outbox.messages while it runs: on a very large outbox, apply this file at a quiet moment.

-- Sent rows, by the time they were sent: purge and --retain-sent.
CREATE INDEX messages_sent_at ON outbox.messages (sent_at) WHERE status = 'sent';

-- Dead rows, by the time they went dead (their last update): purge --include-dead, --retain-dead, and the
-- newest dead rows that `outbox-relay status` lists.
CREATE INDEX messages_dead_at ON outbox.messages (updated_at) WHERE status = 'dead';

INSERT INTO outbox.schema_migrations (version, name) VALUES (2, '0002_retention.sql');
