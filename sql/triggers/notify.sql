-- The wake-up: tells listening relays that rows may be due. A notification is only a hint (it carries no
-- payload and may be lost while a relay is disconnected); the table is the truth, and relays also sweep it.
--
-- NOTIFY is not free for the application: every committing transaction that notified takes one
-- database-wide lock from before its commit until after its commit record is flushed, so such commits
-- cannot be grouped and concurrent writers queue behind one another. So a writer notifies only when no
-- relay is busy: a busy relay claims every few milliseconds without being told. The flag is an advisory
-- lock, B, that a busy relay holds exclusively on its claim session. The triggers' WHEN clauses read it: a
-- try at B shared, given back at once when taken. No table, no snapshot, nothing held until commit (so a
-- relay about to turn busy is kept waiting by nobody), and no plpgsql call at all when the answer is
-- "busy". The test is spelled out in each WHEN clause: in a SQL function, PostgreSQL would parse the
-- function's body again for every INSERT statement, which cost 8 writers 10% of their rate (the test itself
-- costs them about 1%).
--
-- The handshake that keeps this from ever losing a wake-up:
--   writer: inserts (so it holds ROW EXCLUSIVE on outbox.messages until it ends), then tries B;
--   relay, going from busy to idle (or stopping): releases B, then lists the transactions that hold
--     ROW EXCLUSIVE on outbox.messages (pg_locks) and waits until each of them has ended, claiming (or,
--     when stopping, notifying the other relays) right after the listing and whenever some of them end:
--     a writer that is not on the list ended before it.
-- A writer that found B held took its table lock before that, and so is on the list or already over when
-- the relay reads it: a claim after the listing sees its row. A writer that tries B after the release gets
-- it and notifies. Nothing here depends on a snapshot, so every isolation level works the same, and the wait
-- follows transaction ids, which survive a PREPARE TRANSACTION. The relay never queues for a lock: it takes
-- B with a try (which fails while another relay holds it, or for the instant a writer's test holds it
-- shared: it tries again later), and it waits for writers by reading pg_locks, not by a lock request that
-- new writers would have to queue behind.
-- A busy relay that sends no claim for 100 ms (its requests slow to finish) releases B the same way, so
-- that the other relays hear of new rows, and takes it again only once it has caught up with the table.
-- A relay that dies gives B back with its session. One that vanishes without closing its connection holds
-- it until the server's TCP keepalive gives the session up (the relay asks for about 10 s), and meanwhile
-- rows reach the other relays at their sweep; a relay whose own side of the connection broke first ends
-- its old session when it reconnects, before it lists the writers. A relay process that freezes while
-- busy keeps B until it goes on or goes away.
-- Two-phase commit: PostgreSQL refuses to PREPARE a transaction that notified, so a writer can prepare only
-- while a relay is busy; the relay waits for such a writer until COMMIT PREPARED.
-- B is hashtextextended('outbox-relay wakeup', 0); relay/outbox_queries.cpp uses the same key.
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
  -- True when no relay holds B, that is when this writer must notify. Session-level, and given back at once.
  no_relay_busy text :=
    'pg_try_advisory_lock_shared(-2025047403911557836) AND pg_advisory_unlock_shared(-2025047403911557836)';
BEGIN
  -- Replacing a trigger locks the table against every writer; do it only when something changes.
  IF (SELECT count(*) FROM pg_trigger
       WHERE tgrelid = 'outbox.messages'::regclass
         AND tgname IN ('messages_notify_insert', 'messages_notify_pending')
         AND tgfoid = 'outbox.notify_relay()'::regprocedure
         AND tgargs = convert_to(channel, 'UTF8') || '\x00'::bytea
         AND pg_get_triggerdef(oid) LIKE '%WHEN (%pg_advisory_unlock_shared(''-2025047403911557836''%') = 2 THEN
    RETURN;
  END IF;

  DROP TRIGGER IF EXISTS messages_notify_insert ON outbox.messages;
  DROP TRIGGER IF EXISTS messages_notify_pending ON outbox.messages;

  -- Once per INSERT statement, however many rows it adds: one notification per transaction is enough.
  EXECUTE format(
    'CREATE TRIGGER messages_notify_insert AFTER INSERT ON outbox.messages '
    'FOR EACH STATEMENT WHEN (%s) EXECUTE FUNCTION outbox.notify_relay(%L)', no_relay_busy, channel);

  -- Rows put back to pending (a retry that came due, an expired lease, a replay, a relay giving back its
  -- leases at shutdown) must wake the others too. The status test comes first, so the relay's own claims
  -- and completions, which never set pending, cost nothing; PostgreSQL folds the identical notifications
  -- of one transaction into one.
  EXECUTE format(
    'CREATE TRIGGER messages_notify_pending AFTER UPDATE OF status ON outbox.messages '
    'FOR EACH ROW WHEN (NEW.status = ''pending'' AND OLD.status IS DISTINCT FROM ''pending'' AND %s) '
    'EXECUTE FUNCTION outbox.notify_relay(%L)', no_relay_busy, channel);
END
$$;
