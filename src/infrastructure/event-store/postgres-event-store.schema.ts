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

-- Appends to several streams in one transaction (one round trip, one commit). Stream i
-- gets events [offset_i, offset_i + p_counts[i]) of the event arrays, checked against
-- p_expected[i]; a stream that moved is skipped (ok = false) and the rest go on.
CREATE OR REPLACE FUNCTION ledger_append_batch(
  p_stream_ids text[],
  p_expected bigint[],
  p_counts int[],
  p_event_ids text[],
  p_types text[],
  p_data jsonb[],
  p_metadata jsonb[]
) RETURNS TABLE (ok boolean, next_revision bigint, first_position bigint, last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_tx xid8;
  v_offset int := 0;
  v_count int;
  v_current bigint;
  v_expected bigint;
  v_stream text;
  v_first bigint;
  v_moved boolean;
BEGIN
  PERFORM pg_advisory_lock(${APPEND_LOCK_KEY});
  -- Lock first, id second: a transaction with an id from here is visible to readers' horizon.
  LOCK TABLE ledger_events IN ROW EXCLUSIVE MODE;
  v_tx := pg_current_xact_id();

  FOR i IN 1 .. cardinality(p_stream_ids) LOOP
    v_stream := p_stream_ids[i];
    v_count := p_counts[i];
    v_expected := p_expected[i];
    v_moved := false;
    IF v_expected = ${EXPECT_NO_STREAM} THEN
      INSERT INTO ledger_streams (stream_id, revision) VALUES (v_stream, v_count - 1)
        ON CONFLICT (stream_id) DO NOTHING;
      v_moved := NOT FOUND;
      v_current := -1;
    ELSIF v_expected = ${EXPECT_ANY} THEN
      INSERT INTO ledger_streams AS s (stream_id, revision) VALUES (v_stream, v_count - 1)
        ON CONFLICT (stream_id) DO UPDATE SET revision = s.revision + v_count
        RETURNING s.revision - v_count INTO v_current;
    ELSE
      -- A row locked by another appender means that appender is about to move the stream on.
      SELECT revision INTO v_current FROM ledger_streams
        WHERE stream_id = v_stream FOR UPDATE SKIP LOCKED;
      IF NOT FOUND OR v_current <> v_expected THEN
        v_moved := true;
      ELSE
        UPDATE ledger_streams SET revision = v_current + v_count WHERE stream_id = v_stream;
      END IF;
    END IF;

    IF v_moved THEN
      RETURN QUERY SELECT false, NULL::bigint, NULL::bigint, NULL::bigint;
    ELSE
      -- Positions come from the sequence only under the append lock: consecutive per stream.
      v_first := nextval('ledger_event_position_seq');
      IF v_count > 1 THEN
        PERFORM setval('ledger_event_position_seq', v_first + v_count - 1);
      END IF;
      INSERT INTO ledger_events (position, stream_id, stream_revision, event_id, type, data, metadata, transaction_id)
        SELECT v_first + e.ord - 1, v_stream, v_current + e.ord, e.event_id, e.type, e.data, e.metadata, v_tx
        FROM unnest(p_event_ids[v_offset + 1 : v_offset + v_count], p_types[v_offset + 1 : v_offset + v_count],
                    p_data[v_offset + 1 : v_offset + v_count], p_metadata[v_offset + 1 : v_offset + v_count])
             WITH ORDINALITY AS e(event_id, type, data, metadata, ord);
      RETURN QUERY SELECT true, v_current + v_count, v_first, v_first + v_count - 1;
    END IF;
    v_offset := v_offset + v_count;
  END LOOP;

  PERFORM pg_advisory_unlock(${APPEND_LOCK_KEY});
END;
$$;

-- The same batch with each event's data and metadata as one JSON array apiece: a client
-- sends two JSON texts instead of two array literals that escape every quote of every
-- event. Kept beside ledger_append_batch so processes of an older version go on working.
CREATE OR REPLACE FUNCTION ledger_append_batch_json(
  p_stream_ids text[],
  p_expected bigint[],
  p_counts int[],
  p_event_ids text[],
  p_types text[],
  p_data jsonb,
  p_metadata jsonb
) RETURNS TABLE (ok boolean, next_revision bigint, first_position bigint, last_position bigint)
LANGUAGE sql AS $$
  SELECT * FROM ledger_append_batch(
    p_stream_ids, p_expected, p_counts, p_event_ids, p_types,
    ARRAY(SELECT e.value FROM jsonb_array_elements(p_data) WITH ORDINALITY AS e(value, ord) ORDER BY e.ord),
    ARRAY(SELECT e.value FROM jsonb_array_elements(p_metadata) WITH ORDINALITY AS e(value, ord) ORDER BY e.ord))
$$;

-- One stream's append: a batch of one.
CREATE OR REPLACE FUNCTION ledger_append(
  p_stream_id text,
  p_expected bigint,
  p_event_ids text[],
  p_types text[],
  p_data jsonb[],
  p_metadata jsonb[]
) RETURNS TABLE (ok boolean, next_revision bigint, last_position bigint)
LANGUAGE sql AS $$
  SELECT b.ok, b.next_revision, b.last_position
    FROM ledger_append_batch(ARRAY[p_stream_id], ARRAY[p_expected], ARRAY[cardinality(p_event_ids)],
                             p_event_ids, p_types, p_data, p_metadata) AS b
$$;
`;
