-- outbox-relay schema, version 7: the busy flag becomes an advisory lock (see sql/triggers/notify.sql), and
-- its table goes. Reading the flag row cost every writer a snapshot and a table read in plpgsql: about 8% of
-- the insert rate of 8 writers. notify.sql, applied right after this file, installs the new triggers; until
-- then the interim function below notifies on every insert (never losing a wake-up, only as costly as a
-- plain NOTIFY), because the one it replaces reads the table dropped here.
CREATE OR REPLACE FUNCTION outbox.notify_relay() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify(TG_ARGV[0], ''); RETURN NULL; END $$;

DROP TABLE outbox.relay_wakeup;

INSERT INTO outbox.schema_migrations (version, name) VALUES (7, '0007_wakeup_lock.sql');
