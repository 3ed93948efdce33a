-- The PostgreSQL schema at SQLite's schema 3, in one step. Never edited once released: a new
-- table or column is a new numbered file. Vectors are little-endian float32 bytea (the bytes
-- np.frombuffer reads); the full-text side is derived per process (index.store.lexical).
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE collections (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    version BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    logged_from BIGINT NOT NULL DEFAULT 0  -- chunk_log holds every version after this one
);
CREATE TABLE articles (
    id BIGSERIAL PRIMARY KEY,
    collection_id BIGINT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    source TEXT,
    published_at TEXT,
    url TEXT,
    canonical_url TEXT,
    author TEXT,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    added_by TEXT,
    added_at TEXT NOT NULL,
    guid TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (collection_id, content_hash)
);
CREATE UNIQUE INDEX articles_url ON articles (collection_id, canonical_url)
    WHERE canonical_url IS NOT NULL;
CREATE INDEX articles_published ON articles (collection_id, published_at);
CREATE INDEX articles_guid ON articles (collection_id, guid) WHERE guid IS NOT NULL;
CREATE TABLE chunks (
    id BIGSERIAL PRIMARY KEY,
    article_id BIGINT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    collection_id BIGINT NOT NULL,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BYTEA NOT NULL
);
CREATE INDEX chunks_article ON chunks (article_id);
CREATE INDEX chunks_collection ON chunks (collection_id, id);
-- What each collection version did to its chunks: derived indexes follow it (added rows,
-- removed rows, re-embedded rows) instead of rebuilding.
CREATE TABLE chunk_log (
    collection_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    chunk_id BIGINT NOT NULL,
    op CHAR(1) NOT NULL  -- a: added, r: removed, v: new vector
);
CREATE INDEX chunk_log_version ON chunk_log (collection_id, version);
CREATE TABLE article_sources (
    id BIGSERIAL PRIMARY KEY,
    article_id BIGINT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    source TEXT,
    url TEXT,
    title TEXT,
    published_at TEXT,
    added_at TEXT NOT NULL
);
CREATE UNIQUE INDEX article_sources_once ON article_sources
    (article_id, COALESCE(source, ''), COALESCE(url, ''));
CREATE TABLE article_minhash (
    article_id BIGINT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    signature BYTEA NOT NULL
);
CREATE TABLE minhash_bands (
    collection_id BIGINT NOT NULL,
    band INTEGER NOT NULL,
    bucket BIGINT NOT NULL,
    article_id BIGINT NOT NULL REFERENCES articles(id) ON DELETE CASCADE
);
CREATE INDEX minhash_bands_lookup ON minhash_bands (collection_id, band, bucket);
CREATE INDEX minhash_bands_article ON minhash_bands (article_id);
CREATE TABLE feeds (
    id BIGSERIAL PRIMARY KEY,
    collection_id BIGINT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    title TEXT,
    etag TEXT,
    last_modified TEXT,
    interval_seconds INTEGER NOT NULL DEFAULT 1800,
    next_poll_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_polled_at DOUBLE PRECISION,
    last_status TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    added_by TEXT,
    added_at TEXT NOT NULL,
    UNIQUE (collection_id, url)
);
CREATE TABLE feed_entries (
    feed_id BIGINT NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    article_id BIGINT,
    content_hash TEXT,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (feed_id, guid)
);
CREATE TABLE article_versions (
    article_id BIGINT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    added_by TEXT,
    added_at TEXT NOT NULL,
    fetched_url TEXT,
    feed_id BIGINT,
    PRIMARY KEY (article_id, version)
);
