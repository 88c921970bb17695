#include "relay/outbox_queries.hpp"

namespace relay::queries {

namespace {

// Each statement below has one plan that is right for every parameter value and every size of the table:
// the claim walks the claim index in order under its LIMIT, the completion and the sweep look rows up by
// primary key. Planning them anew per run (what PostgreSQL does by default, because the generic plan's
// cost guesses a LIMIT of 10% of the table) took ~1.3 ms for a claim, more than running it. That same
// inflated guess crossed jit_above_cost, and compiling the claim took ~27 ms; nothing the relay runs is
// long enough for JIT to pay off.
//
// A generic plan is kept until the table's statistics change, and an outbox is often near empty when the
// relay prepares its statements and then fills faster than autovacuum analyzes it. On an empty table every
// path costs the same, and the planner picked a sequential scan of the table for each outcome batch (0.6 ms
// per batch after a few thousand rows, growing with the table), or (planned with a few rows pending) a sort
// of every pending row for each claim.
// The planner settings below leave it only the paths that stay cheap at any size; no work statement on
// outbox.messages needs a sequential scan, a sort or a nested-loop join.
constexpr SessionSetting kWorkSessionSettings[] = {
    // The relay's own transactions (claims, outcomes, sweeps) do not wait for their WAL flush: that wait
    // is most of a claim's time on a real disk (~4 ms of ~4.3 ms measured here). Losing one of them in a
    // database crash only means a row is sent again (a claim forgotten: the row is pending again; an
    // outcome forgotten: the lease expires), which at-least-once delivery allows; a message is never
    // lost, because the application's INSERT keeps its own synchronous commit.
    {"synchronous_commit", "off"},
    // Give up on a statement that hangs rather than stall the relay forever.
    {"statement_timeout", "30s"},
    {"plan_cache_mode", "force_generic_plan"},
    // Also needed with the settings below: a path they rule out is costed at ~1e10, far above the JIT
    // thresholds, so a statement left with only such a path would be compiled.
    {"jit", "off"},
    {"enable_seqscan", "off"},
    {"enable_sort", "off"},
    {"enable_nestloop", "off"},
};

}  // namespace

std::span<const SessionSetting> work_session_settings() {
  return kWorkSessionSettings;
}

// The id list is materialised with ARRAY(...) so that the locking subquery runs exactly once, before the
// UPDATE; LockRows sits under the LIMIT, so rows skipped as locked do not count toward it. The test for an
// ordering key's earlier rows names the statuses of the ordering index's predicate, so that it is looked up
// in that index (by key) and not in the primary key (every older row).
const pg::PreparedStatement claim{"outbox_claim", R"sql(
UPDATE outbox.messages AS m
   SET status = 'processing',
       attempts = m.attempts + 1,
       lease_owner = $1,
       lease_expires_at = now() + $2::bigint * interval '1 millisecond',
       updated_at = now()
 WHERE m.id = ANY (ARRAY(
         SELECT c.id
           FROM outbox.messages AS c
          WHERE c.status = 'pending'
            AND c.next_attempt_at <= now()
            AND (c.ordering_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM outbox.messages AS h
                   WHERE h.ordering_key = c.ordering_key
                     AND h.status IN ('pending', 'processing', 'failed')
                     AND (h.status = 'processing' OR h.id < c.id)))
          ORDER BY c.priority DESC, c.id
          LIMIT $3
            FOR UPDATE SKIP LOCKED))
RETURNING m.id, m.topic, m.payload::text, m.target_url,
          (SELECT string_agg(e.key || ': ' || e.value, E'\n') FROM jsonb_each_text(m.headers) AS e),
          m.attempts, m.max_attempts, m.ordering_key IS NOT NULL
)sql"};

const pg::PreparedStatement sweep{"outbox_sweep", R"sql(
WITH due AS (
  SELECT id FROM outbox.messages
   WHERE (status = 'failed' AND next_attempt_at <= now())
      OR (status = 'processing' AND lease_expires_at <= now())
   LIMIT $1
     FOR UPDATE SKIP LOCKED
), changed AS (
  UPDATE outbox.messages AS m
     SET status = CASE WHEN m.status = 'processing' AND m.attempts >= coalesce(m.max_attempts, $2::int)
                       THEN 'dead' ELSE 'pending' END::outbox.message_status,
         last_error = CASE WHEN m.status = 'processing'
                           THEN 'lease of ' || m.lease_owner || ' expired before its outcome was recorded'
                           ELSE m.last_error END,
         lease_owner = NULL,
         lease_expires_at = NULL,
         updated_at = now()
   WHERE m.id = ANY (ARRAY(SELECT id FROM due))
  RETURNING 1
)
SELECT (SELECT count(*) FROM changed),
       ceil(EXTRACT(EPOCH FROM LEAST(
         (SELECT min(next_attempt_at) FROM outbox.messages
           WHERE status = 'failed' AND next_attempt_at > now()),
         (SELECT min(lease_expires_at) FROM outbox.messages
           WHERE status = 'processing' AND lease_expires_at > now())) - now()) * 1000)::bigint
)sql"};

// The row must still be held by this relay in that same attempt. A lease owner implies status processing
// (constraint lease_only_while_processing), which is not spelt out: with it the planner matched the
// partial lease index and, in the generic plan, scanned every leased row once per outcome. `m.id = ANY
// ($1)` restates the join so that the rows are found by primary key before they are matched with their
// outcomes (in a hash join: see kWorkSessionSettings).
const pg::PreparedStatement complete{"outbox_complete", R"sql(
WITH recorded AS (
  UPDATE outbox.messages AS m
     SET status = CASE WHEN o.status = 'pending' AND o.refund = 0
                            AND m.attempts >= coalesce(m.max_attempts, $9::int)
                       THEN 'dead' ELSE o.status END::outbox.message_status,
         attempts = m.attempts - o.refund,
         next_attempt_at = CASE WHEN o.status = 'failed'
                                THEN now() + o.delay_ms * interval '1 millisecond'
                                ELSE m.next_attempt_at END,
         lease_owner = NULL,
         lease_expires_at = NULL,
         last_status = CASE WHEN o.refund = 1 THEN m.last_status ELSE o.http_status END,
         last_error = CASE WHEN o.refund = 1 THEN m.last_error ELSE o.error END,
         sent_at = CASE WHEN o.status = 'sent' THEN now() ELSE m.sent_at END,
         updated_at = now()
    FROM unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::int[], $6::text[], $7::bigint[])
           AS o(id, attempt, status, refund, http_status, error, delay_ms)
   WHERE m.id = ANY ($1::bigint[])
     AND m.id = o.id
     AND m.lease_owner = $8
     AND m.attempts = o.attempt
  RETURNING m.status, m.next_attempt_at
)
SELECT count(*),
       ceil(EXTRACT(EPOCH FROM min(next_attempt_at) FILTER (WHERE status = 'failed') - now()) * 1000)::bigint
  FROM recorded
)sql"};

const pg::PreparedStatement schema_check{"outbox_schema_check", R"sql(
SELECT (SELECT max(version) FROM outbox.schema_migrations),
       (SELECT convert_from(substring(t.tgargs FROM 1 FOR position('\x00'::bytea IN t.tgargs) - 1), 'UTF8')
          FROM pg_trigger AS t
         WHERE t.tgrelid = 'outbox.messages'::regclass AND t.tgname = 'messages_notify_insert')
)sql"};

// The wake-up flag of sql/triggers/notify.sql, the relay's half. B is the key that the triggers' WHEN
// clauses try shared.
const pg::PreparedStatement busy_flag_take{"outbox_busy_flag_take", R"sql(
SELECT pg_try_advisory_lock(-2025047403911557836)
)sql"};

// Every advisory lock of the session: the claim session takes no other, and B taken twice (a take after a
// release whose answer was lost) goes at once, where pg_advisory_unlock would leave it held once.
const pg::PreparedStatement busy_flag_release{"outbox_busy_flag_release", R"sql(
SELECT pg_advisory_unlock_all()
)sql"};

// Names this session, so that a relay can recognise it after its own side broke (end_orphaned_flag).
const pg::PreparedStatement session_identity{"outbox_session_identity", R"sql(
SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()
)sql"};

// pg_locks shows fast-path locks too, and a writer takes ROW EXCLUSIVE, and its transaction id, before its
// trigger asks for B. Each transaction id appears once (a transaction holds one such lock per id: its own
// and its subtransactions'). The writers are followed by transaction id, whose lock is released only after
// the commit is visible and stays with a prepared transaction. One read of pg_locks serves every part, so
// that the parts agree. A writer with no transaction id has not inserted yet: its trigger will find B
// released.
// PREPARE TRANSACTION moves a writer's locks to the prepared transaction one lock partition at a time. The
// prepared transaction keeps the writer's virtual transaction id in current minor releases, so the join
// holds throughout; older ones (and prepared transactions recovered after a restart) give it -1/xid, which
// the second part reads, and while the move is under way the transaction id's lock may be gone from the
// writer's virtual id: then the transactions of this database prepared in the last seconds are waited for
// too (the third part; an old prepared transaction left behind is not waited for, and a writer mid-PREPARE
// is always a recent one).
// Relation OIDs repeat across databases made from one template, hence the database test.
const pg::PreparedStatement open_writers{"outbox_open_writers", R"sql(
WITH locks AS MATERIALIZED (
  SELECT locktype, database, relation, mode, granted, pid, virtualtransaction, transactionid FROM pg_locks
), table_writers AS (
  SELECT pid, virtualtransaction FROM locks
   WHERE locktype = 'relation'
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND relation = 'outbox.messages'::regclass
     AND mode = 'RowExclusiveLock'
     AND granted
     AND pid IS DISTINCT FROM pg_backend_pid()
), xids AS (
  SELECT pid, virtualtransaction, transactionid FROM locks
   WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted
), writers AS (
  SELECT x.transactionid::text AS xid
    FROM table_writers AS w
    JOIN xids AS x ON x.virtualtransaction = w.virtualtransaction
  UNION
  SELECT split_part(w.virtualtransaction, '/', 2)
    FROM table_writers AS w
   WHERE w.virtualtransaction LIKE '-1/%'
  UNION
  SELECT p.transaction::text
    FROM pg_prepared_xacts AS p
   WHERE p.database = current_database()
     AND p.prepared > clock_timestamp() - interval '10 seconds'
     AND EXISTS (SELECT 1 FROM table_writers AS w
                  WHERE w.pid IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM xids AS y WHERE y.virtualtransaction = w.virtualtransaction))
)
SELECT count(*), coalesce(array_agg(xid), '{}') FROM writers
)sql"};

const pg::PreparedStatement writers_still_open{"outbox_writers_still_open", R"sql(
SELECT count(*), coalesce(array_agg(transactionid), '{}')
  FROM pg_locks
 WHERE locktype = 'transactionid'
   AND mode = 'ExclusiveLock'
   AND granted
   AND transactionid = ANY ($1::xid[])
)sql"};

// B as pg_locks shows it: classid and objid are the key's high and low 32 bits, objsubid 1 for a bigint key.
// Ends the session with pid $1 that started at $2 if it still holds B, and waits up to 5 s for it to exit
// (PostgreSQL 14 and later). The start time tells it from a later session that got the same pid.
const pg::PreparedStatement end_orphaned_flag{"outbox_end_orphaned_flag", R"sql(
SELECT pg_terminate_backend(l.pid, 5000)
  FROM pg_locks AS l
  JOIN pg_stat_activity AS a ON a.pid = l.pid
 WHERE l.locktype = 'advisory'
   AND l.classid = '3823474205'::oid AND l.objid = '2223394100'::oid AND l.objsubid = 1
   AND l.mode = 'ExclusiveLock'
   AND l.granted
   AND l.pid = $1::int
   AND l.pid <> pg_backend_pid()
   AND a.backend_start = $2::timestamptz
)sql"};

}  // namespace relay::queries
