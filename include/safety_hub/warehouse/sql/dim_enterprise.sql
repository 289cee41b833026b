-- dim_enterprise: enterprises across every agency's facts, keyed by USCC, as a type-2
-- slowly changing dimension: one row per (uscc, name version).
--
-- observations: the CTEs src, canon and obs of enterprise_observations.sql, whose placeholders are:
-- sources:   the UNION ALL of (uscc, org_name, district_code, feed_id, business_date,
--            updated_at) over the fact tables, generated from the registry.
-- canonical: the canonical name of `org_name` (domain.canonical_org_name as SQL): spelling
--            variants (brackets, 有限责任公司, 天津市/（天津）) share one canonical name;
--            computed once per distinct name (a name is reported many times).
-- name_rank, district_rank: a feed's authority for the name and the district
--            (include/feeds/_precedence.yaml; 1 = first listed, unlisted feeds last).
--
-- A version is one canonical name of a USCC. Versions are ordered by the business date each
-- name was first reported; a version is valid from that date until the next one's (valid_to
-- excludes it; NULL for the current version). A report of the old name after a rename (a
-- late update, a slow agency) does not reopen the old version: it shows in last_seen only.
-- Within a version, org_name and district_code come from the most authoritative feed, its
-- most recent report first.
INSERT INTO dim_enterprise (uscc, version, org_name, canonical_name, district_code, valid_from, valid_to, is_current,
                            name_variants, source_feeds, first_seen, last_seen)
WITH {observations},
names AS (
    SELECT uscc, canonical_name,
           COUNT(DISTINCT org_name) AS name_variants,
           STRING_AGG(DISTINCT feed_id, ',' ORDER BY feed_id) AS source_feeds,
           MIN(business_date) AS first_seen,
           MAX(business_date) AS last_seen,
           MAX(updated_at) AS last_updated,
           MIN(name_rank) AS best_rank
    FROM obs
    GROUP BY uscc, canonical_name
),
versions AS (
    SELECT n.*,
           ROW_NUMBER() OVER (PARTITION BY uscc
                              ORDER BY first_seen, last_seen, last_updated NULLS LAST, best_rank, canonical_name COLLATE "C") AS version
    FROM names n
),
spans AS (
    SELECT v.*, LEAD(first_seen) OVER (PARTITION BY uscc ORDER BY version) AS valid_to
    FROM versions v
),
best_name AS (
    SELECT uscc, canonical_name, org_name,
           ROW_NUMBER() OVER (PARTITION BY uscc, canonical_name
                              ORDER BY name_rank, business_date DESC, updated_at DESC NULLS LAST, feed_id, org_name COLLATE "C") AS rn
    FROM obs
),
best_district AS (
    SELECT uscc, canonical_name, district_code,
           ROW_NUMBER() OVER (PARTITION BY uscc, canonical_name
                              ORDER BY district_rank, business_date DESC, updated_at DESC NULLS LAST, feed_id, district_code) AS rn
    FROM obs
    WHERE district_code IS NOT NULL
)
SELECT s.uscc, s.version, b.org_name, s.canonical_name, d.district_code, s.first_seen, s.valid_to, s.valid_to IS NULL,
       s.name_variants, s.source_feeds, s.first_seen, s.last_seen
FROM spans s
JOIN best_name b ON b.uscc = s.uscc AND b.canonical_name = s.canonical_name AND b.rn = 1
LEFT JOIN best_district d ON d.uscc = s.uscc AND d.canonical_name = s.canonical_name AND d.rn = 1
