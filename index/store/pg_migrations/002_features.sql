-- SQLite's schema 4 (index/store/schema.py): answers given on Discord and the votes on them,
-- watches (standing questions) with their topic's vector and the alerts they raised, a
-- collection's daily digest schedule. The keys are what hold the contracts across processes:
-- one vote a voter an answer, one alert a (watch, article), one digest schedule a collection
-- (whose last_day is a compare-and-set). Times and days compared as text sort bytewise, as in
-- SQLite (COLLATE "C"), whatever the database's locale.
CREATE TABLE watches (
    id BIGSERIAL PRIMARY KEY,
    collection_id BIGINT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    vector BYTEA NOT NULL,
    owner TEXT NOT NULL,
    channel_id BIGINT,
    created_at TEXT NOT NULL
);
CREATE INDEX watches_collection ON watches (collection_id, id);
CREATE TABLE watch_alerts (
    watch_id BIGINT NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    article_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    alerted_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (watch_id, article_id)
);
CREATE TABLE digests (
    collection_id BIGINT PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL,
    hour INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    timezone TEXT NOT NULL,
    last_day TEXT COLLATE "C"
);
CREATE TABLE answers (
    id BIGSERIAL PRIMARY KEY,
    collection_id BIGINT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',  -- JSON, as SQLite keeps it
    asked_by TEXT,
    channel_id BIGINT,
    message_id BIGINT,
    since TEXT,
    until TEXT,
    as_of TEXT,
    asked_at TEXT NOT NULL
);
CREATE INDEX answers_channel ON answers (channel_id, id);
CREATE INDEX answers_collection ON answers (collection_id, id);
CREATE UNIQUE INDEX answers_message ON answers (message_id) WHERE message_id IS NOT NULL;
CREATE TABLE answer_votes (
    answer_id BIGINT NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
    voter TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    voted_at TEXT NOT NULL,
    PRIMARY KEY (answer_id, voter)
);
