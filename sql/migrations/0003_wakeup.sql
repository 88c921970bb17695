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

-- Every UPDATE evaluates every CHECK, and the relay updates each message twice (claim, outcome). Testing for
-- NULL first spares those updates the function call when a row has no headers. The new expression accepts
-- exactly what the old one did (headers_are_valid(NULL) is true), so validating it is a formality; it still
-- reads the table once, under the lock this migration holds anyway.
ALTER TABLE outbox.messages
  DROP CONSTRAINT headers_are_valid,
  ADD CONSTRAINT headers_are_valid CHECK (headers IS NULL OR outbox.headers_are_valid(headers)) NOT VALID;
ALTER TABLE outbox.messages VALIDATE CONSTRAINT headers_are_valid;

INSERT INTO outbox.schema_migrations (version, name) VALUES (3, '0003_wakeup.sql');
