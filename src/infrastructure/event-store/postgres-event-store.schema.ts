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
  -- json, not jsonb: the log is written once and read many times, and json keeps the text
  -- as appended, so a read sends it as it is instead of printing it again from jsonb's
  -- binary form (over 1M events, half the server's cost of a projection rebuild's read).
  -- A log created with jsonb columns by an earlier version works the same, only reads slower.
  data json NOT NULL,
  metadata json NOT NULL,
  transaction_id xid8 NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, stream_revision)
);

-- Read it in its own statement before reading events: its snapshot must be older than theirs.
-- PL/pgSQL, not SQL: a session plans the query once instead of on every call (about 0.19
-- against 0.06 ms a call, most of it planning). The table is looked up when it runs
-- (to_regclass), so the kept plan never holds an OID of its own.
CREATE OR REPLACE FUNCTION ledger_read_horizon() RETURNS xid8
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN (
    SELECT coalesce(
      (SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x
        WHERE xid(x) IN (
          SELECT own.transactionid FROM pg_locks AS rel
            JOIN pg_locks AS own ON own.pid = rel.pid AND own.locktype = 'transactionid'
           WHERE rel.locktype = 'relation' AND rel.relation = to_regclass('ledger_events') AND rel.mode = 'RowExclusiveLock')),
      pg_snapshot_xmax(snap.s))
    FROM (SELECT pg_current_snapshot() AS s) AS snap);
END;
$$;

-- Appends to several streams in one transaction (one round trip, one commit). Stream i
-- gets events [offset_i, offset_i + p_counts[i]) of the event arrays (p_data and
-- p_metadata are JSON arrays, one element per event), checked against p_expected[i]; a
-- stream that moved is skipped (ok = false) and the rest go on. A stream appears at most
-- once in a batch.
--
-- Set-based: a fixed number of statements whatever the number of streams (one lock-and-
-- check, one insert of new streams, one upsert for 'any', one revision update, one insert
-- of every event), so the append lock is held for little more than the rows' own cost.
--
-- p_data and p_metadata are json, so an event's text goes into the log as it came.
--
-- plan_cache_mode: the service's connections force custom plans (PgSqlClient), and under
-- the default (auto) Postgres chose them too, so the statements below were planned again
-- on every call: a one-stream append cost the server 0.70 ms of CPU that way and 0.29 ms
-- with generic plans (node bench/append-cost.mjs). The generic plans use the same indexes
-- and array scans (the event insert hash-joins them), and 64-stream batches got cheaper too.
CREATE OR REPLACE FUNCTION ledger_append_events(
  p_stream_ids text[],
  p_expected bigint[],
  p_counts int[],
  p_event_ids text[],
  p_types text[],
  p_data json,
  p_metadata json
) RETURNS TABLE (ok boolean, next_revision bigint, first_position bigint, last_position bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_streams int := coalesce(cardinality(p_stream_ids), 0);
  v_tx xid8;
  -- Per stream: its revision before this append, or null when it moved (nothing of it is appended).
  v_base bigint[] := array_fill(NULL::bigint, ARRAY[v_streams]);
  v_first bigint[] := array_fill(NULL::bigint, ARRAY[v_streams]);
  v_total bigint := 0;
  v_next bigint;
  v_index int;
  v_distinct bigint;
  v_events bigint;
  v_smallest int;
  r record;
BEGIN
  IF v_streams = 0 THEN RETURN; END IF;
  IF cardinality(p_counts) IS DISTINCT FROM v_streams OR cardinality(p_expected) IS DISTINCT FROM v_streams THEN
    RAISE EXCEPTION 'an append batch whose arrays do not match';
  END IF;
  SELECT count(DISTINCT x.stream_id), sum(x.count), min(x.count)
    INTO v_distinct, v_events, v_smallest
    FROM unnest(p_stream_ids, p_counts) AS x(stream_id, count);
  IF v_distinct <> v_streams THEN
    RAISE EXCEPTION 'a stream appears more than once in one append batch';
  END IF;
  IF v_smallest < 1 OR v_events IS DISTINCT FROM cardinality(p_event_ids) OR v_events IS DISTINCT FROM cardinality(p_types)
     OR v_events <> json_array_length(p_data) OR v_events <> json_array_length(p_metadata) THEN
    RAISE EXCEPTION 'an append batch whose arrays do not match';
  END IF;
  PERFORM pg_advisory_lock(${APPEND_LOCK_KEY});
  -- Lock first, id second: a transaction with an id from here is visible to readers' horizon.
  LOCK TABLE ledger_events IN ROW EXCLUSIVE MODE;
  v_tx := pg_current_xact_id();

  -- Streams expected at a revision. A row locked by another appender means that appender is
  -- about to move the stream on: skipped, like a row at another revision.
  FOR r IN
    SELECT req.i, s.revision
      FROM unnest(p_stream_ids, p_expected) WITH ORDINALITY AS req(stream_id, expected, i)
      JOIN ledger_streams AS s ON s.stream_id = req.stream_id
     WHERE req.expected >= 0 AND s.revision = req.expected
       FOR UPDATE OF s SKIP LOCKED
  LOOP
    v_base[r.i] := r.revision;
  END LOOP;
  UPDATE ledger_streams AS s SET revision = u.base + u.count
    FROM unnest(p_stream_ids, p_expected, v_base, p_counts) AS u(stream_id, expected, base, count)
   WHERE s.stream_id = u.stream_id AND u.expected >= 0 AND u.base IS NOT NULL;

  IF ${EXPECT_NO_STREAM} = ANY(p_expected) THEN
    FOR r IN
      INSERT INTO ledger_streams (stream_id, revision)
      SELECT req.stream_id, req.count - 1
        FROM unnest(p_stream_ids, p_expected, p_counts) AS req(stream_id, expected, count)
       WHERE req.expected = ${EXPECT_NO_STREAM}
      ON CONFLICT (stream_id) DO NOTHING
      RETURNING stream_id
    LOOP
      v_base[array_position(p_stream_ids, r.stream_id)] := -1;
    END LOOP;
  END IF;

  IF ${EXPECT_ANY} = ANY(p_expected) THEN
    FOR r IN
      INSERT INTO ledger_streams AS s (stream_id, revision)
      SELECT req.stream_id, req.count - 1
        FROM unnest(p_stream_ids, p_expected, p_counts) AS req(stream_id, expected, count)
       WHERE req.expected = ${EXPECT_ANY}
      ON CONFLICT (stream_id) DO UPDATE SET revision = s.revision + excluded.revision + 1
      RETURNING s.stream_id, s.revision
    LOOP
      v_index := array_position(p_stream_ids, r.stream_id);
      v_base[v_index] := r.revision - p_counts[v_index];
    END LOOP;
  END IF;

  FOR i IN 1 .. v_streams LOOP
    IF v_base[i] IS NOT NULL THEN v_total := v_total + p_counts[i]; END IF;
  END LOOP;
  IF v_total > 0 THEN
    -- Positions come from the sequence only under the append lock: consecutive for the batch.
    v_next := nextval('ledger_event_position_seq');
    IF v_total > 1 THEN
      PERFORM setval('ledger_event_position_seq', v_next + v_total - 1);
    END IF;
    FOR i IN 1 .. v_streams LOOP
      IF v_base[i] IS NOT NULL THEN
        v_first[i] := v_next;
        v_next := v_next + p_counts[i];
      END IF;
    END LOOP;
    -- Stream i's k-th event is element (offset_i + k) of the event arrays.
    INSERT INTO ledger_events (position, stream_id, stream_revision, event_id, type, data, metadata, transaction_id)
    SELECT v_first[s.i] + g.k - 1, p_stream_ids[s.i], v_base[s.i] + g.k, e.event_id, e.type, d.value, m.value, v_tx
      FROM (SELECT u.i, (sum(u.count) OVER (ORDER BY u.i) - u.count)::int AS offset_, u.count
              FROM unnest(p_counts) WITH ORDINALITY AS u(count, i)) AS s
      CROSS JOIN LATERAL generate_series(1, s.count) AS g(k)
      JOIN unnest(p_event_ids, p_types) WITH ORDINALITY AS e(event_id, type, ord) ON e.ord = s.offset_ + g.k
      JOIN json_array_elements(p_data) WITH ORDINALITY AS d(value, ord) ON d.ord = e.ord
      JOIN json_array_elements(p_metadata) WITH ORDINALITY AS m(value, ord) ON m.ord = e.ord
     WHERE v_base[s.i] IS NOT NULL;
  END IF;

  PERFORM pg_advisory_unlock(${APPEND_LOCK_KEY});
  RETURN QUERY
    SELECT v_base[i] IS NOT NULL, v_base[i] + p_counts[i], v_first[i], v_first[i] + p_counts[i] - 1
      FROM generate_series(1, v_streams) AS i
     ORDER BY i;
END;
$$;

-- The signatures processes of earlier versions call: data and metadata as jsonb arrays,
-- or as arrays of jsonb.
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
  SELECT * FROM ledger_append_events(p_stream_ids, p_expected, p_counts, p_event_ids, p_types, p_data::json, p_metadata::json)
$$;

CREATE OR REPLACE FUNCTION ledger_append_batch(
  p_stream_ids text[],
  p_expected bigint[],
  p_counts int[],
  p_event_ids text[],
  p_types text[],
  p_data jsonb[],
  p_metadata jsonb[]
) RETURNS TABLE (ok boolean, next_revision bigint, first_position bigint, last_position bigint)
LANGUAGE sql AS $$
  SELECT * FROM ledger_append_events(
    p_stream_ids, p_expected, p_counts, p_event_ids, p_types,
    coalesce(array_to_json(p_data), '[]'::json), coalesce(array_to_json(p_metadata), '[]'::json))
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
