-- The wake-up: tells listening relays that rows may be due. A notification is only a hint (it carries no
-- payload and may be lost while a relay is disconnected); the table is the truth, and relays also sweep it.
--
-- Re-runnable: `outbox-relay migrate` applies this file after the migrations, every time, with the channel
-- in the setting outbox_relay.channel (default 'outbox'). By hand:
--   SET outbox_relay.channel = 'outbox';  \i notify.sql

CREATE OR REPLACE FUNCTION outbox.notify_relay() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END
$$;

DO $$
DECLARE
  channel text := coalesce(nullif(current_setting('outbox_relay.channel', true), ''), 'outbox');
BEGIN
  -- Replacing a trigger locks the table against every writer; do it only when something changes.
  IF (SELECT count(*) FROM pg_trigger
       WHERE tgrelid = 'outbox.messages'::regclass
         AND tgname IN ('messages_notify_insert', 'messages_notify_pending')
         AND tgfoid = 'outbox.notify_relay()'::regprocedure
         AND tgargs = convert_to(channel, 'UTF8') || '\x00'::bytea) = 2 THEN
    RETURN;
  END IF;

  DROP TRIGGER IF EXISTS messages_notify_insert ON outbox.messages;
  DROP TRIGGER IF EXISTS messages_notify_pending ON outbox.messages;

  -- Once per INSERT statement, however many rows it adds: one notification per transaction is enough.
  EXECUTE format(
    'CREATE TRIGGER messages_notify_insert AFTER INSERT ON outbox.messages '
    'FOR EACH STATEMENT EXECUTE FUNCTION outbox.notify_relay(%L)', channel);

  -- Rows put back to pending (a retry that came due, an expired lease, a replay, a relay giving back its
  -- leases at shutdown) must wake the others too. A row trigger with a WHEN clause costs nothing for the
  -- relay's own claims and completions, which never set pending; PostgreSQL folds the identical
  -- notifications of one transaction into one.
  EXECUTE format(
    'CREATE TRIGGER messages_notify_pending AFTER UPDATE OF status ON outbox.messages '
    'FOR EACH ROW WHEN (NEW.status = ''pending'' AND OLD.status IS DISTINCT FROM ''pending'') '
    'EXECUTE FUNCTION outbox.notify_relay(%L)', channel);
END
$$;
