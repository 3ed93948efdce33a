-- Feed trouble told to admins (SQLite's schema 6): each feed's last success, last error and
-- the articles it added (counted from their versions for feeds from before), which notice its
-- current run of failures was told (none, 'failing', 'paused': once, kept across restarts); and
-- a server's channel for those notices (/feeds notify). Safe to run again over itself.
ALTER TABLE feeds ADD COLUMN IF NOT EXISTS last_success_at DOUBLE PRECISION;
ALTER TABLE feeds ADD COLUMN IF NOT EXISTS last_error TEXT;
ALTER TABLE feeds ADD COLUMN IF NOT EXISTS last_error_at DOUBLE PRECISION;
ALTER TABLE feeds ADD COLUMN IF NOT EXISTS articles_added INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feeds ADD COLUMN IF NOT EXISTS notice TEXT;
UPDATE feeds SET articles_added = (
    SELECT COUNT(*) FROM article_versions v WHERE v.feed_id = feeds.id AND v.version = 1)
    WHERE articles_added = 0;
UPDATE feeds SET last_success_at = last_polled_at
    WHERE last_success_at IS NULL AND failures = 0 AND last_status IS NOT NULL
      AND last_status NOT LIKE 'error: %';
UPDATE feeds SET last_error = substr(last_status, 8), last_error_at = last_polled_at
    WHERE last_error IS NULL AND last_status LIKE 'error: %';
CREATE TABLE IF NOT EXISTS feed_notices (
    collection_id BIGINT PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL,
    set_by TEXT,
    set_at TEXT NOT NULL
);
