-- dim_enterprise_asof: what the marts show for an enterprise on a date (valid_from <= date < valid_to,
-- NULL valid_to: open): the name and district of the dim_enterprise version in force that day as they
-- were known that day. dim_enterprise gives each version the name and district of its most authoritative
-- feed's most recent report, which a later report can change for the whole version; here the choice is
-- made again at each report date from the reports up to that date (same order: the feed's rank in
-- include/feeds/_precedence.yaml, then the latest business date, update time, feed, spelling), so a
-- later report changes the dates from its own on, and a past week's figures stay as they were.
-- On the latest date the row equals the version's dim_enterprise row (a district is NULL until one is
-- reported). observations: the CTEs of enterprise_observations.sql, as in dim_enterprise.sql. Run after it:
-- it reads the versions' validity from dim_enterprise.
INSERT INTO dim_enterprise_asof (uscc, valid_from, valid_to, org_name, district_code)
WITH {observations},
-- Per version and report date, the best report at each rank; kept where its rank is the best seen by
-- that date (the best choice on that date, and from then until a better or later one).
name_day AS (
    SELECT uscc, canonical_name, business_date, name_rank, org_name,
           ROW_NUMBER() OVER (PARTITION BY uscc, canonical_name, business_date, name_rank
                              ORDER BY updated_at DESC NULLS LAST, feed_id, org_name COLLATE "C") AS rn
    FROM obs
),
name_best AS (
    SELECT uscc, canonical_name, business_date, org_name,
           MIN(name_rank) OVER (PARTITION BY uscc, canonical_name ORDER BY business_date
                                RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS best_rank, name_rank
    FROM name_day
    WHERE rn = 1
),
name_change AS (
    SELECT uscc, canonical_name, business_date, org_name,
           LAG(org_name) OVER (PARTITION BY uscc, canonical_name ORDER BY business_date) AS previous
    FROM name_best
    WHERE name_rank = best_rank
),
name_span AS (
    SELECT uscc, canonical_name, org_name, business_date AS span_from,
           LEAD(business_date) OVER (PARTITION BY uscc, canonical_name ORDER BY business_date) AS span_to
    FROM name_change
    WHERE previous IS NULL OR previous <> org_name
),
-- The same for the district; a version's first report date holds a NULL district of the lowest rank,
-- so the dates before its first district report show none.
district_obs AS (
    SELECT uscc, canonical_name, business_date, district_rank, district_code, updated_at, feed_id
    FROM obs
    WHERE district_code IS NOT NULL
    UNION ALL
    SELECT uscc, canonical_name, MIN(business_date), 1000000, NULL, NULL, NULL
    FROM obs
    GROUP BY uscc, canonical_name
),
district_day AS (
    SELECT uscc, canonical_name, business_date, district_rank, district_code,
           ROW_NUMBER() OVER (PARTITION BY uscc, canonical_name, business_date, district_rank
                              ORDER BY updated_at DESC NULLS LAST, feed_id, district_code) AS rn
    FROM district_obs
),
district_best AS (
    SELECT uscc, canonical_name, business_date, district_code, district_rank,
           MIN(district_rank) OVER (PARTITION BY uscc, canonical_name ORDER BY business_date
                                    RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS best_rank
    FROM district_day
    WHERE rn = 1
),
district_change AS (
    SELECT uscc, canonical_name, business_date, district_code,
           ROW_NUMBER() OVER (PARTITION BY uscc, canonical_name ORDER BY business_date) AS n,
           LAG(district_code) OVER (PARTITION BY uscc, canonical_name ORDER BY business_date) AS previous
    FROM district_best
    WHERE district_rank = best_rank
),
district_span AS (
    SELECT uscc, canonical_name, district_code, business_date AS span_from,
           LEAD(business_date) OVER (PARTITION BY uscc, canonical_name ORDER BY business_date) AS span_to
    FROM district_change
    WHERE n = 1 OR previous IS DISTINCT FROM district_code
),
spans AS (
    SELECT n.uscc, n.canonical_name, n.org_name, d.district_code,
           CASE WHEN n.span_from > d.span_from THEN n.span_from ELSE d.span_from END AS span_from,
           CASE WHEN COALESCE(n.span_to, DATE '9999-12-31') < COALESCE(d.span_to, DATE '9999-12-31')
                THEN COALESCE(n.span_to, DATE '9999-12-31') ELSE COALESCE(d.span_to, DATE '9999-12-31') END AS span_to
    FROM name_span n
    JOIN district_span d ON d.uscc = n.uscc AND d.canonical_name = n.canonical_name
     AND d.span_from < COALESCE(n.span_to, DATE '9999-12-31') AND COALESCE(d.span_to, DATE '9999-12-31') > n.span_from
),
clipped AS (
    SELECT s.uscc, s.org_name, s.district_code,
           CASE WHEN s.span_from > v.valid_from THEN s.span_from ELSE v.valid_from END AS valid_from,
           CASE WHEN s.span_to < COALESCE(v.valid_to, DATE '9999-12-31') THEN s.span_to
                ELSE COALESCE(v.valid_to, DATE '9999-12-31') END AS valid_to
    FROM spans s
    JOIN dim_enterprise v ON v.uscc = s.uscc AND v.canonical_name = s.canonical_name
     AND s.span_from < COALESCE(v.valid_to, DATE '9999-12-31') AND s.span_to > v.valid_from
)
SELECT uscc, valid_from, NULLIF(valid_to, DATE '9999-12-31'), org_name, district_code
FROM clipped
