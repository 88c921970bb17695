-- outbox-relay schema, version 3: the relay's busy flag, which lets writers skip the NOTIFY while a relay
-- is draining the table by itself, and a cheaper headers check on the relay's updates.

-- One row: until when some relay looks for new rows by itself and needs no NOTIFY from writers (see
-- sql/triggers/notify.sql for the handshake that keeps a wake-up from being lost). NULL or past: writers
-- notify. Relays hold the flag as a lease of a few seconds, so one that dies stops suppressing wake-ups
-- soon after.
CREATE TABLE outbox.relay_wakeup (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  busy_until timestamptz
);
INSERT INTO outbox.relay_wakeup DEFAULT VALUES;
-- The trigger reads it as whichever role inserts into outbox.messages: every such role must be able to,
-- including the application's roles that were granted access to the outbox before this table existed. It
-- holds nothing but a time. Relays update it, with the privileges they already need on outbox.messages.
GRANT SELECT ON outbox.relay_wakeup TO PUBLIC;

-- Every UPDATE evaluates every CHECK, and the relay updates each message twice (claim, outcome). Testing for
-- NULL first spares those updates the function call when a row has no headers. The new expression accepts
-- exactly what the old one did (headers_are_valid(NULL) is true). Added NOT VALID, so that this migration
-- does not read the whole table under its ACCESS EXCLUSIVE lock; 0004 validates it under a lock that lets
-- writers go on.
ALTER TABLE outbox.messages
  DROP CONSTRAINT headers_are_valid,
  ADD CONSTRAINT headers_are_valid CHECK (headers IS NULL OR outbox.headers_are_valid(headers)) NOT VALID;

INSERT INTO outbox.schema_migrations (version, name) VALUES (3, '0003_wakeup.sql');
