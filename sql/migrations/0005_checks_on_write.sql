-- outbox-relay schema, version 5: the row checks cost the relay's updates nothing.
--
-- PostgreSQL evaluates every CHECK constraint on every UPDATE, whichever columns it sets, and prepares the
-- constraint expressions once per statement. The relay updates each message twice (claim, outcome), and a
-- profile of a drain put 11 % of the database's CPU in those checks:
--   - headers_are_valid calls a LANGUAGE sql function. Preparing it means trying to inline it, which parses
--     and analyses the function's body again for every statement, whether or not a row has headers.
--   - topic_is_one_line ran a regular expression for every row.
-- Headers are now checked by triggers that fire only when a row is inserted with headers or its headers
-- are updated: no relay statement sets them. It raises the same error as the constraint did (SQLSTATE
-- 23514, constraint headers_are_valid). The topic check tests for the two characters directly; it accepts
-- exactly what the regular expression did. It is added NOT VALID, so that this migration does not read the
-- whole table under its ACCESS EXCLUSIVE lock; 0006 validates it under a lock that lets writers go on.

CREATE FUNCTION outbox.check_headers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT outbox.headers_are_valid(NEW.headers) THEN
    RAISE EXCEPTION 'new row for relation "messages" violates check constraint "headers_are_valid"'
      USING ERRCODE = 'check_violation', SCHEMA = 'outbox', TABLE = 'messages',
            CONSTRAINT = 'headers_are_valid',
            DETAIL = 'Headers must be a JSON object of strings whose names are tokens and whose values have '
                     'no line breaks.';
  END IF;
  RETURN NEW;
END
$$;

-- Inserts are checked before the row is written. Updates are checked after, because any BEFORE UPDATE row
-- trigger makes PostgreSQL lock every row an UPDATE changes before it looks at the trigger's columns (one
-- more WAL record per row for the relay's claims and outcomes, which never set headers); an AFTER trigger
-- on other columns costs nothing, and its error undoes the update all the same.
CREATE TRIGGER messages_headers_valid
  BEFORE INSERT ON outbox.messages
  FOR EACH ROW WHEN (NEW.headers IS NOT NULL)
  EXECUTE FUNCTION outbox.check_headers();
CREATE TRIGGER messages_headers_valid_update
  AFTER UPDATE OF headers ON outbox.messages
  FOR EACH ROW WHEN (NEW.headers IS NOT NULL)
  EXECUTE FUNCTION outbox.check_headers();

ALTER TABLE outbox.messages
  DROP CONSTRAINT headers_are_valid,
  DROP CONSTRAINT topic_is_one_line,
  ADD CONSTRAINT topic_is_one_line
    CHECK (topic <> '' AND strpos(topic, E'\r') = 0 AND strpos(topic, E'\n') = 0) NOT VALID;

INSERT INTO outbox.schema_migrations (version, name) VALUES (5, '0005_checks_on_write.sql');
