-- snapshot_deletion for one snapshot feed: rows stored in {fact} whose key is not in the
-- latest delivered snapshot (snapshot_member holds every delivered key, valid or not).
-- Recomputed from all snapshots after every load, so the result does not depend on load order.
INSERT INTO snapshot_deletion (feed_id, record_key, last_seen, missing_since)
SELECT :feed_id, f.{key}, seen.last_seen, latest.d
FROM {fact} f
CROSS JOIN (SELECT MAX(business_date) AS d FROM snapshot_member WHERE feed_id = :feed_id) latest
LEFT JOIN (
    SELECT record_key, MAX(business_date) AS last_seen
    FROM snapshot_member WHERE feed_id = :feed_id GROUP BY record_key
) seen ON seen.record_key = f.{key}
WHERE NOT EXISTS (
    SELECT 1 FROM snapshot_member m
    WHERE m.feed_id = :feed_id AND m.business_date = latest.d AND m.record_key = f.{key}
)
