-- The de-duplicated hazards as known on :as_of (a SELECT used by hazard.sql and
-- mart_district_hazard.sql). From hazard_version (every loaded version of every
-- source record), leaving out status regressions and versions loaded after :as_of:
--   1. each source record's latest version;
--   2. per hazard identity (uscc | normalised description | found_date), the most
--      advanced status across sources, then the latest update;
--   3. the list of source records that reported it.
WITH v AS (
    SELECT * FROM hazard_version
    WHERE NOT COALESCE(is_regression, FALSE) AND business_date <= :as_of
),
per_source AS (
    SELECT v.*, ROW_NUMBER() OVER (PARTITION BY feed_id, record_key ORDER BY updated_at DESC, business_date DESC) AS rn
    FROM v
),
ranked AS (
    SELECT p.*, ROW_NUMBER() OVER (PARTITION BY identity_key ORDER BY status_rank DESC, updated_at DESC, feed_id, record_key) AS pick
    FROM per_source p
    WHERE rn = 1
),
agg AS (
    SELECT identity_key,
           STRING_AGG(DISTINCT feed_id || ':' || record_key, ',' ORDER BY feed_id || ':' || record_key) AS sources,
           COUNT(DISTINCT feed_id || ':' || record_key) AS n_sources,
           COUNT(*) AS n_versions,
           MIN(updated_at) AS first_reported_at
    FROM v
    GROUP BY identity_key
)
SELECT r.identity_key, r.uscc, r.org_name, r.district_code, r.description, r.found_date, r.grade, r.is_major,
       r.deadline, r.fixed_date, r.accepted_date, r.closed_date, r.listed_supervision, r.status, r.status_rank, r.is_closed,
       a.sources, a.n_sources, a.n_versions, a.first_reported_at, r.updated_at AS last_updated_at
FROM ranked r
JOIN agg a ON a.identity_key = r.identity_key
WHERE r.pick = 1
