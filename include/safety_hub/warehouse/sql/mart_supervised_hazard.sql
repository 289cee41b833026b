-- mart_supervised_hazard: the listed (挂牌督办) hazards known on :as_of (the data date of the week
-- ending :week_end, the partition; hazard_asof.sql) and found by then, closed ones included, with the progress flag of the
-- 问题隐患清单 (DOMAIN.md §8):
--   绿  closed (销号) by :as_of;
--   红  open and the deadline before :as_of (days_left < 0: 超期, as in mart_district_hazard);
--   黄  open with fewer than {yellow_days_left} days left (0 <= days_left < {yellow_days_left},
--       include/risk.yaml supervised.yellow_days_left), or no deadline at all;
--   绿  otherwise (on track).
-- days_left = deadline - :as_of in days, blank once closed. org_name is the enterprise's canonical
-- name (shown on :as_of: dim_enterprise_asof, the version in force as known that day; else the current one), not the ledger's spelling.
INSERT INTO mart_supervised_hazard
    (as_of_date, identity_key, uscc, org_name, district_code, district_name, description, grade, found_date, deadline,
     days_left, status, is_closed, closed_date, progress, sources, data_through)
WITH h AS (
{hazard_asof}
),
s AS (
    SELECT h.*,
           CASE WHEN h.is_closed AND h.closed_date <= :as_of THEN TRUE ELSE FALSE END AS closed_by_asof,
           h.deadline - CAST(:as_of AS DATE) AS days_left
    FROM h
    WHERE COALESCE(h.listed_supervision, FALSE) AND h.found_date <= :as_of
)
SELECT
    CAST(:week_end AS DATE),
    s.identity_key, s.uscc, COALESCE(n.org_name, cur.org_name, s.org_name), s.district_code, d.district_name, s.description,
    s.grade, s.found_date, s.deadline,
    CASE WHEN s.closed_by_asof THEN NULL ELSE s.days_left END, s.status, s.closed_by_asof, CASE WHEN s.closed_by_asof THEN s.closed_date END,
    CASE WHEN s.closed_by_asof THEN '绿'
         WHEN s.deadline IS NULL THEN '黄'
         WHEN s.days_left < 0 THEN '红'
         WHEN s.days_left < {yellow_days_left} THEN '黄'
         ELSE '绿' END,
    s.sources,
    (SELECT MAX(business_date) FROM load_audit WHERE business_date <= :as_of)
FROM s
LEFT JOIN dim_district d ON d.district_code = s.district_code
LEFT JOIN dim_enterprise_asof n ON n.uscc = s.uscc AND n.valid_from <= :as_of AND (n.valid_to IS NULL OR n.valid_to > :as_of)
LEFT JOIN dim_enterprise cur ON cur.uscc = s.uscc AND cur.is_current
