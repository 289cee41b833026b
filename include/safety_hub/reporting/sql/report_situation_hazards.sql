-- 一情况 (situation), hazard figures of one report week, as of its Sunday (:as_of), over the
-- de-duplicated hazards the warehouse knew that day (hazard_asof.sql: versions loaded for
-- business dates up to :as_of, regressions left out). "week" columns count what happened
-- from :week_start to :as_of, "total" columns everything up to :as_of (same definitions as
-- mart_district_hazard: 动态整改率 = closed / found, 超期 = open and past the deadline).
WITH h AS (
{hazard_asof}
),
f AS (
    SELECT h.*,
           CASE WHEN h.found_date >= :week_start THEN 1 ELSE 0 END AS found_in_week,
           CASE WHEN h.is_closed AND h.closed_date <= :as_of THEN 1 ELSE 0 END AS closed_by_asof,
           CASE WHEN h.is_closed AND h.closed_date BETWEEN :week_start AND :as_of THEN 1 ELSE 0 END AS closed_in_week,
           CASE WHEN h.is_major THEN 1 ELSE 0 END AS major,
           CASE WHEN h.listed_supervision THEN 1 ELSE 0 END AS listed,
           CASE WHEN h.deadline < :as_of THEN 1 ELSE 0 END AS due
    FROM h
    WHERE h.found_date <= :as_of
)
SELECT
    COALESCE(SUM(found_in_week), 0) AS found_week,
    COUNT(*) AS found_total,
    COALESCE(SUM(closed_in_week), 0) AS closed_week,
    COALESCE(SUM(closed_by_asof), 0) AS closed_total,
    COALESCE(SUM(major * found_in_week), 0) AS major_week,
    COALESCE(SUM(major), 0) AS major_total,
    COALESCE(SUM(major * closed_by_asof), 0) AS major_closed_total,
    COALESCE(SUM(listed * found_in_week), 0) AS listed_week,
    COALESCE(SUM(listed), 0) AS listed_total,
    COALESCE(SUM(listed * (1 - closed_by_asof)), 0) AS listed_open,
    COALESCE(SUM(due * (1 - closed_by_asof)), 0) AS overdue,
    COALESCE(SUM(major * due * (1 - closed_by_asof)), 0) AS major_overdue,
    COALESCE(SUM(due), 0) AS due,
    COALESCE(SUM(CASE WHEN due = 1 AND closed_by_asof = 1 AND closed_date <= deadline THEN 1 ELSE 0 END), 0) AS closed_on_time
FROM f
