-- mart_district_hazard: hazards found and closed, 动态整改率, overdue and listed
-- major hazards, by district and grade, as of :as_of.
INSERT INTO mart_district_hazard
    (as_of_date, district_code, district_name, grade, hazards_found, hazards_closed,
     rectification_rate, hazards_overdue, hazards_listed)
SELECT
    CAST(:as_of AS DATE),
    d.district_code,
    d.district_name,
    h.grade,
    COUNT(*) AS hazards_found,
    SUM(CASE WHEN h.status = '验收销号' AND h.closed_date <= :as_of THEN 1 ELSE 0 END) AS hazards_closed,
    1.0 * SUM(CASE WHEN h.status = '验收销号' AND h.closed_date <= :as_of THEN 1 ELSE 0 END) / COUNT(*) AS rectification_rate,
    SUM(CASE WHEN h.status <> '验收销号' AND h.deadline < :as_of THEN 1 ELSE 0 END) AS hazards_overdue,
    SUM(CASE WHEN h.listed_supervision THEN 1 ELSE 0 END) AS hazards_listed
FROM fact_hazard h
JOIN dim_district d ON d.district_code = h.district_code
WHERE h.found_date <= :as_of
  AND h.business_date <= :as_of
GROUP BY d.district_code, d.district_name, h.grade
