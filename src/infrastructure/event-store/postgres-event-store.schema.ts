/**
 * Schema of the PostgreSQL event store.
 *
 * Gap safety: a reader of $all must never pass over an event whose transaction commits
 * after the reader has read a later position. Every append therefore takes its
 * transaction id and its positions inside one short critical section (a session advisory
 * lock held for the insert only, not for the commit), so position order equals
 * transaction-id order. Readers then read only events of transactions older than a
 * horizon: the oldest transaction still appending (one holding ROW EXCLUSIVE on
 * ledger_events, which an append takes first thing in the critical section), or, when
 * none is, the next transaction id to be assigned. Unlike `pg_snapshot_xmin`, this is
 * not held back by unrelated writes elsewhere on the server (projections, other
 * databases). Appends still commit in parallel.
 */
export const APPEND_LOCK_KEY = 4_817_301_155;
export const MIGRATION_LOCK_KEY = 4_817_301_156;

export const EXPECT_NO_STREAM = -1;
export const EXPECT_ANY = -2;

export const eventStoreSchemaSql = `
CREATE SEQUENCE IF NOT EXISTS ledger_event_position_seq AS bigint;

CREATE TABLE IF NOT EXISTS ledger_streams (
  stream_id text PRIMARY KEY,
  revision bigint NOT NULL CHECK (revision >= 0)
);

CREATE TABLE IF NOT EXISTS ledger_events (
  position bigint PRIMARY KEY,
  stream_id text NOT NULL,
  stream_revision bigint NOT NULL,
  event_id text NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  transaction_id xid8 NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, stream_revision)
);

-- Read it in its own statement before reading events: its snapshot must be older than theirs.
CREATE OR REPLACE FUNCTION ledger_read_horizon() RETURNS xid8
LANGUAGE sql VOLATILE AS $$
  SELECT coalesce(
    (SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x
      WHERE xid(x) IN (
        SELECT own.transactionid FROM pg_locks AS rel
          JOIN pg_locks AS own ON own.pid = rel.pid AND own.locktype = 'transactionid'
         WHERE rel.locktype = 'relation' AND rel.relation = 'ledger_events'::regclass AND rel.mode = 'RowExclusiveLock')),
    pg_snapshot_xmax(snap.s))
  FROM (SELECT pg_current_snapshot() AS s) AS snap
$$;

CREATE OR REPLACE FUNCTION ledger_append(
  p_stream_id text,
  p_expected bigint,
  p_event_ids text[],
  p_types text[],
  p_data jsonb[],
  p_metadata jsonb[]
) RETURNS TABLE (ok boolean, next_revision bigint, last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_count int := cardinality(p_event_ids);
  v_current bigint;
  v_tx xid8;
  v_positions bigint[];
BEGIN
  PERFORM pg_advisory_lock(${APPEND_LOCK_KEY});
  -- Lock first, id second: a transaction with an id from here is visible to readers' horizon.
  LOCK TABLE ledger_events IN ROW EXCLUSIVE MODE;
  v_tx := pg_current_xact_id();

  IF p_expected = ${EXPECT_NO_STREAM} THEN
    INSERT INTO ledger_streams (stream_id, revision) VALUES (p_stream_id, v_count - 1)
      ON CONFLICT (stream_id) DO NOTHING;
    IF NOT FOUND THEN
      PERFORM pg_advisory_unlock(${APPEND_LOCK_KEY});
      RETURN QUERY SELECT false, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
    v_current := -1;
  ELSIF p_expected = ${EXPECT_ANY} THEN
    INSERT INTO ledger_streams AS s (stream_id, revision) VALUES (p_stream_id, v_count - 1)
      ON CONFLICT (stream_id) DO UPDATE SET revision = s.revision + v_count
      RETURNING s.revision - v_count INTO v_current;
  ELSE
    -- A row locked by another appender means that appender is about to move the stream on.
    SELECT revision INTO v_current FROM ledger_streams
      WHERE stream_id = p_stream_id FOR UPDATE SKIP LOCKED;
    IF NOT FOUND OR v_current <> p_expected THEN
      PERFORM pg_advisory_unlock(${APPEND_LOCK_KEY});
      RETURN QUERY SELECT false, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
    UPDATE ledger_streams SET revision = v_current + v_count WHERE stream_id = p_stream_id;
  END IF;

  SELECT array_agg(nextval('ledger_event_position_seq') ORDER BY n) INTO v_positions
    FROM generate_series(1, v_count) AS n;

  INSERT INTO ledger_events (position, stream_id, stream_revision, event_id, type, data, metadata, transaction_id)
    SELECT v_positions[e.ord], p_stream_id, v_current + e.ord, e.event_id, e.type, e.data, e.metadata, v_tx
    FROM unnest(p_event_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS e(event_id, type, data, metadata, ord);

  PERFORM pg_advisory_unlock(${APPEND_LOCK_KEY});
  RETURN QUERY SELECT true, v_current + v_count, v_positions[v_count];
END;
$$;
`;
