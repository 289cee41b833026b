-- The CTEs dim_enterprise.sql and dim_enterprise_asof.sql start from (their observations placeholder):
-- src, every reported (uscc, org_name, district_code, feed_id, business_date, updated_at); canon, the
-- canonical name of each distinct name; obs, one observation per enterprise, name, district, feed and
-- day (its latest update): the same versions, names and districts as every report (a feed reports an
-- enterprise many times a day), from far fewer rows to rank. Placeholders as in dim_enterprise.sql.
src AS (
    {sources}
),
canon AS (
    SELECT org_name, {canonical} AS canonical_name
    FROM (SELECT DISTINCT org_name FROM src) d
),
obs AS (
    SELECT s.uscc, s.org_name, s.district_code, s.feed_id, s.business_date, MAX(s.updated_at) AS updated_at,
           c.canonical_name,
           {name_rank} AS name_rank,
           {district_rank} AS district_rank
    FROM src s
    LEFT JOIN canon c ON c.org_name = s.org_name
    GROUP BY s.uscc, s.org_name, s.district_code, s.feed_id, s.business_date, c.canonical_name
)
