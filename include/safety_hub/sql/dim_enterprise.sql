-- dim_enterprise: one row per USCC across every agency's facts.
-- The src CTE is the UNION ALL of (uscc, org_name, district_code, feed_id,
-- business_date, updated_at) over the fact tables, generated from the registry.
INSERT INTO dim_enterprise (uscc, org_name, district_code, name_variants, source_feeds, first_seen, last_seen)
WITH src AS (
    {sources}
),
latest AS (
    SELECT uscc, org_name, district_code,
           ROW_NUMBER() OVER (PARTITION BY uscc ORDER BY updated_at DESC, feed_id, org_name) AS rn
    FROM src
),
agg AS (
    SELECT uscc,
           COUNT(DISTINCT org_name) AS name_variants,
           STRING_AGG(DISTINCT feed_id, ',' ORDER BY feed_id) AS source_feeds,
           MIN(business_date) AS first_seen,
           MAX(business_date) AS last_seen
    FROM src
    GROUP BY uscc
)
SELECT a.uscc, l.org_name, l.district_code, a.name_variants, a.source_feeds, a.first_seen, a.last_seen
FROM agg a
JOIN latest l ON l.uscc = a.uscc AND l.rn = 1
