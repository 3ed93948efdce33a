-- Each text embedded once (SQLite's schema 8): a vector is kept once by the digest of (model,
-- embedded text) and chunks refer to it, so a second collection following the same feed, or an
-- article ingested again, reuses it instead of running the model. Stored vectors move over as
-- they are (ids equal to their chunk's: nothing re-embedded, derived indexes stay valid),
-- unkeyed (digest NULL) until the first ingest keys them. The old column is emptied before it
-- is dropped, so its bytes are freed by vacuum rather than kept in every row. Safe to run
-- again over itself.
CREATE TABLE IF NOT EXISTS vectors (
    id BIGSERIAL PRIMARY KEY,
    digest BYTEA UNIQUE,
    vector BYTEA NOT NULL
);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'chunks' AND column_name = 'vector') THEN
        INSERT INTO vectors (id, vector) SELECT id, vector FROM chunks ORDER BY id;
        PERFORM setval('vectors_id_seq', GREATEST(n, 1), n > 0) FROM (
            SELECT GREATEST((SELECT COALESCE(MAX(id), 0) FROM vectors),
                            (SELECT last_value - (NOT is_called)::int FROM chunks_id_seq)) AS n
        ) x;
        ALTER TABLE chunks ADD COLUMN vector_id BIGINT;
        ALTER TABLE chunks ALTER COLUMN vector DROP NOT NULL;
        UPDATE chunks SET vector_id = id, vector = NULL;
        ALTER TABLE chunks DROP COLUMN vector;
        ALTER TABLE chunks ALTER COLUMN vector_id SET NOT NULL;
        ALTER TABLE chunks ADD CONSTRAINT chunks_vector_id_fkey FOREIGN KEY (vector_id)
            REFERENCES vectors (id);
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS chunks_vector ON chunks (vector_id);
