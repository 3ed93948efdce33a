-- Ids are never reused (SQLite's schema 5). PostgreSQL's sequences never go back, but
-- copy-store used to start them at the highest id an SQLite store still held, not the highest
-- it had given out: after the newest article was forgotten there, its id came back here. Move
-- each sequence past every id still referred to (alerts, feed entries, answers' citations, the
-- alert scan's place, article versions, "feed N"); a sequence already past them is left as is.
SELECT setval('articles_id_seq', m) FROM (
    SELECT MAX(id) AS m FROM (
        SELECT MAX(article_id) AS id FROM feed_entries
        UNION ALL SELECT MAX(article_id) FROM watch_alerts
        UNION ALL SELECT MAX((c ->> 'article_id')::bigint)
            FROM answers a, jsonb_array_elements(
                CASE WHEN a.citations LIKE '[%' THEN a.citations::jsonb ELSE '[]' END) c
            WHERE c ->> 'article_id' ~ '^[0-9]{1,18}$'
        UNION ALL SELECT MAX(value::bigint) FROM meta
            WHERE key LIKE 'alerts.seen.%' AND value ~ '^[0-9]{1,18}$'
    ) refs
) x WHERE m > (SELECT last_value - (NOT is_called)::int FROM articles_id_seq);
SELECT setval('feeds_id_seq', m) FROM (
    SELECT MAX(id) AS m FROM (
        SELECT MAX(feed_id) AS id FROM feed_entries
        UNION ALL SELECT MAX(feed_id) FROM article_versions
        UNION ALL SELECT MAX(substr(added_by, 6)::bigint) FROM articles
            WHERE added_by ~ '^feed [0-9]{1,18}$'
    ) refs
) x WHERE m > (SELECT last_value - (NOT is_called)::int FROM feeds_id_seq);
SELECT setval('answers_id_seq', m) FROM (SELECT MAX(answer_id) AS m FROM answer_votes) x
    WHERE m > (SELECT last_value - (NOT is_called)::int FROM answers_id_seq);
