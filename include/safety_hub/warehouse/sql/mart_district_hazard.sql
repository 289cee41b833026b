-- mart_district_hazard: by district and grade, as of :as_of, over the de-duplicated
-- hazards known that day (hazard_asof.sql): found and closed with 动态整改率
-- (closed / found), overdue and listed (挂牌督办) hazards, and 按期整改率
-- (closed by the deadline / deadline already passed).
INSERT INTO mart_district_hazard
    (as_of_date, district_code, district_name, grade, hazards_found, hazards_closed,
     rectification_rate, hazards_overdue, hazards_listed, hazards_due, hazards_closed_on_time, on_time_rate)
WITH h AS (
{hazard_asof}
),
f AS (
    SELECT h.*,
           CASE WHEN h.is_closed AND h.closed_date <= :as_of THEN 1 ELSE 0 END AS closed_by_asof,
           CASE WHEN h.deadline < :as_of THEN 1 ELSE 0 END AS due,
           CASE WHEN h.deadline < :as_of AND h.is_closed AND h.closed_date <= h.deadline THEN 1 ELSE 0 END AS on_time
    FROM h
    WHERE h.found_date <= :as_of
)
SELECT
    CAST(:as_of AS DATE),
    d.district_code,
    d.district_name,
    f.grade,
    COUNT(*) AS hazards_found,
    SUM(f.closed_by_asof) AS hazards_closed,
    1.0 * SUM(f.closed_by_asof) / COUNT(*) AS rectification_rate,
    SUM(CASE WHEN f.closed_by_asof = 0 AND f.due = 1 THEN 1 ELSE 0 END) AS hazards_overdue,
    SUM(CASE WHEN f.listed_supervision THEN 1 ELSE 0 END) AS hazards_listed,
    SUM(f.due) AS hazards_due,
    SUM(f.on_time) AS hazards_closed_on_time,
    CASE WHEN SUM(f.due) > 0 THEN 1.0 * SUM(f.on_time) / SUM(f.due) END AS on_time_rate
FROM f
JOIN dim_district d ON d.district_code = f.district_code
GROUP BY d.district_code, d.district_name, f.grade
