-- 问题隐患清单 (problem and hazard list) of one report week, as of its data date (:as_of): every
-- de-duplicated hazard known that day (hazard_asof.sql) that was open at some point of the week,
-- i.e. found by :as_of and not closed before :week_start; closures after :as_of are not yet known.
-- 整改措施 and 责任人 come from the ledgers' own records of the hazard (ledger: one SELECT per
-- hazard ledger with feed_id, record_key, measures, owner). 单位名称 is the enterprise's canonical
-- name (the dim_enterprise version in force on :as_of, else the current one), not the ledger's spelling.
WITH h AS (
{hazard_asof}
),
ledger AS (
{ledgers}
),
detail AS (
    SELECT v.identity_key, MAX(l.measures) AS measures, MAX(l.owner) AS owner
    FROM (SELECT DISTINCT identity_key, feed_id, record_key FROM hazard_version WHERE business_date <= :as_of) v
    JOIN ledger l ON l.feed_id = v.feed_id AND l.record_key = v.record_key
    GROUP BY v.identity_key
)
SELECT h.identity_key, h.district_code, d.district_name, h.uscc, COALESCE(n.org_name, cur.org_name, h.org_name) AS org_name, h.description, h.grade, h.is_major,
       h.listed_supervision, x.measures, x.owner, h.found_date, h.deadline, h.status,
       CASE WHEN h.is_closed AND h.closed_date <= :as_of THEN h.closed_date END AS closed_date,
       (h.is_closed AND h.closed_date <= :as_of) AS closed_by_asof, h.sources
FROM h
LEFT JOIN dim_district d ON d.district_code = h.district_code
LEFT JOIN detail x ON x.identity_key = h.identity_key
LEFT JOIN dim_enterprise n ON n.uscc = h.uscc AND n.valid_from <= :as_of AND (n.valid_to IS NULL OR n.valid_to > :as_of)
LEFT JOIN dim_enterprise cur ON cur.uscc = h.uscc AND cur.is_current
WHERE h.found_date <= :as_of
  AND NOT (h.is_closed AND h.closed_date < :week_start)
