-- outbox-relay schema, version 1: the outbox table, its indexes and the enqueue function.
-- `outbox-relay migrate` applies each migration in one transaction, under an advisory lock. A DBA may apply
-- the files of this directory by hand instead, in order, each in one transaction (psql -1 -f FILE), then
-- the files of triggers/: each migration records its own version in outbox.schema_migrations.

CREATE SCHEMA IF NOT EXISTS outbox;

CREATE TABLE outbox.schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TYPE outbox.message_status AS ENUM ('pending', 'processing', 'sent', 'failed', 'dead');

-- Extra request headers must be a JSON object of strings, with no line breaks anywhere: a header is sent as
-- "Name: value" and a CR or LF would let a row inject headers of its own.
CREATE FUNCTION outbox.headers_are_valid(h jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT h IS NULL
      OR (jsonb_typeof(h) = 'object'
          AND NOT EXISTS (
            SELECT 1 FROM jsonb_each(h) AS e(k, v)
             WHERE jsonb_typeof(e.v) <> 'string'
                OR e.k !~ '^[!#$%&''*+.^_`|~0-9A-Za-z-]+$'
                OR (e.v #>> '{}') ~ '[\r\n]'))
$$;

CREATE TABLE outbox.messages (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic            text NOT NULL CONSTRAINT topic_is_one_line CHECK (topic <> '' AND topic !~ '[\r\n]'),
  payload          jsonb NOT NULL,
  headers          jsonb CONSTRAINT headers_are_valid CHECK (outbox.headers_are_valid(headers)),
  target_url       text,
  ordering_key     text,
  dedup_key        text,
  priority         smallint NOT NULL DEFAULT 0,
  status           outbox.message_status NOT NULL DEFAULT 'pending',
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     integer CHECK (max_attempts > 0),
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_expires_at timestamptz,
  last_error       text,
  last_status      integer,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  sent_at          timestamptz,
  CONSTRAINT lease_only_while_processing
    CHECK ((status = 'processing') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);

COMMENT ON TABLE outbox.messages IS
  'Transactional outbox: rows inserted here are delivered as HTTP requests by outbox-relay.';
COMMENT ON COLUMN outbox.messages.status IS
  'pending: due now; processing: leased by a relay; sent: delivered (2xx); '
  'failed: waits for next_attempt_at; dead: given up (see last_error)';

-- Enqueue idempotency: a second message with the same dedup_key is a no-op (see outbox.enqueue).
CREATE UNIQUE INDEX messages_dedup_key ON outbox.messages (dedup_key) WHERE dedup_key IS NOT NULL;

-- The claim: pending rows by priority, then id. Only pending rows are in it, so a claim never walks past
-- rows that are leased or waiting for a retry.
CREATE INDEX messages_claim ON outbox.messages (priority DESC, id) WHERE status = 'pending';

-- The sweep: failed rows whose retry time has come, and leases that expired.
CREATE INDEX messages_retry_due ON outbox.messages (next_attempt_at) WHERE status = 'failed';
CREATE INDEX messages_lease_expiry ON outbox.messages (lease_expires_at) WHERE status = 'processing';

-- Ordering keys: the head of each key is the lowest id not yet sent or dead.
CREATE INDEX messages_ordering ON outbox.messages (ordering_key, id)
  WHERE ordering_key IS NOT NULL AND status IN ('pending', 'processing', 'failed');

-- Enqueues one message and returns its id. With a dedup_key that is already present, inserts nothing and
-- returns the id of the existing message.
CREATE FUNCTION outbox.enqueue(
  topic        text,
  payload      jsonb,
  headers      jsonb DEFAULT NULL,
  target_url   text DEFAULT NULL,
  ordering_key text DEFAULT NULL,
  dedup_key    text DEFAULT NULL,
  priority     integer DEFAULT 0,
  max_attempts integer DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  new_id bigint;
BEGIN
  -- Messages of one ordering key are delivered in id order, and ids are drawn at insert, not at commit:
  -- two transactions enqueueing for the same key at once would otherwise commit their ids out of order.
  -- Holding a lock per key until commit makes id order the commit order.
  IF enqueue.ordering_key IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('outbox.ordering_key:' || enqueue.ordering_key, 0));
  END IF;
  INSERT INTO outbox.messages AS m
    (topic, payload, headers, target_url, ordering_key, dedup_key, priority, max_attempts)
  VALUES
    (enqueue.topic, enqueue.payload, enqueue.headers, enqueue.target_url, enqueue.ordering_key,
     enqueue.dedup_key, enqueue.priority::smallint, enqueue.max_attempts)
  ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
  RETURNING m.id INTO new_id;
  -- A new statement, so a new snapshot: it sees the row of a concurrent enqueue that the INSERT waited for.
  IF new_id IS NULL THEN
    SELECT m.id INTO new_id FROM outbox.messages AS m WHERE m.dedup_key = enqueue.dedup_key;
  END IF;
  RETURN new_id;
END
$$;

INSERT INTO outbox.schema_migrations (version, name) VALUES (1, '0001_schema.sql');
