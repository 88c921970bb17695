-- The wake-up: tells listening relays that rows may be due. A notification is only a hint (it carries no
-- payload and may be lost while a relay is disconnected); the table is the truth, and relays also sweep it.
--
-- NOTIFY is not free for the application: every committing transaction that notified takes one
-- database-wide lock from before its commit until after its commit record is flushed, so such commits
-- cannot be grouped and concurrent writers queue behind one another. So a writer notifies only when no
-- relay says it is busy (outbox.relay_wakeup.busy_until in the future): a busy relay keeps claiming
-- without being told. The handshake that keeps this from ever losing a wake-up:
--   writer: takes the shared advisory lock W (until its commit), then reads busy_until;
--   relay, going from busy to idle: in one transaction, tries to take W exclusively and, only if it got
--     it, clears busy_until; then claims once more. Not getting W (a writer that may have read "busy" is
--     still open), it stays busy and tries again later, rather than queue for W ahead of new writers.
--   relay, stopping: clears busy_until, then waits for W exclusively, then NOTIFYs the other relays.
-- A writer that took W first is over by the time the relay holds W (so the relay's last claim sees its
-- row); a writer that comes later waits for the relay's commit and then reads busy_until cleared (so it
-- notifies). W is hashtextextended('outbox-relay wakeup', 0); relay/outbox_queries.cpp uses the same key.
-- A snapshot older than the relay's flip could still read "busy", so transactions that do not take a new
-- snapshot per statement (REPEATABLE READ, SERIALIZABLE) always notify.
--
-- Re-runnable: `outbox-relay migrate` applies this file after the migrations, every time, with the channel
-- in the setting outbox_relay.channel (default 'outbox'). By hand:
--   SET outbox_relay.channel = 'outbox';  \i notify.sql

CREATE OR REPLACE FUNCTION outbox.notify_relay() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  busy_until timestamptz;
BEGIN
  IF current_setting('transaction_isolation') = 'read committed' THEN
    PERFORM pg_advisory_xact_lock_shared(-2025047403911557836);
    SELECT w.busy_until INTO busy_until FROM outbox.relay_wakeup AS w;
    IF busy_until > clock_timestamp() THEN
      RETURN NULL;
    END IF;
  END IF;
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
