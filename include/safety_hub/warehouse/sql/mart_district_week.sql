-- mart_district_week: per district, the ISO week [:week_start, :week_end] (Monday to Sunday), as of
-- :as_of, the week's data date (its Sunday once the week is complete, else the latest business
-- date loaded in it), from what the warehouse knew then. Every district gets a row (zeros included).
--
-- hazards      the de-duplicated hazards known on :as_of (hazard_asof.sql) found by then:
--              found / closed in the week (found_date / closed_date in the week); at the week's
--              end: open (not closed by :as_of), overdue (open, deadline before :as_of), open
--              重大 (major_hazards) and open 挂牌督办 (supervised).
-- rates        动态整改率 = closed_total / found_total and 按期整改率 = closed_on_time_total /
--              due_total, all counted as of the week's end (as mart_district_hazard for that
--              day); NULL when the divisor is 0; 6 decimals.
-- enforcement  enforcement records decided in the week, as known on :as_of (each one's latest
--              version loaded by then, fact_enforcement_version), by the district reported on the
--              decision; penalty_amount_wan = SUM(fine_wan).
INSERT INTO mart_district_week
    (week_label, week_start, week_end, district_code, district_name,
     hazards_found, hazards_closed, hazards_open, overdue, major_hazards, supervised,
     found_total, closed_total, due_total, closed_on_time_total, dynamic_rate, on_time_rate,
     enforcement_actions, penalty_amount_wan, fines, warnings, suspensions, revocations, closures, joint_punishments, interviews,
     data_through)
WITH h AS (
{hazard_asof}
),
f AS (
    SELECT district_code, found_date,
           COALESCE(is_major, FALSE) AS is_major,
           COALESCE(listed_supervision, FALSE) AS listed,
           CASE WHEN is_closed AND closed_date <= :as_of THEN 1 ELSE 0 END AS closed,
           CASE WHEN is_closed AND closed_date >= :week_start AND closed_date <= :as_of THEN 1 ELSE 0 END AS closed_in_week,
           CASE WHEN deadline < :as_of THEN 1 ELSE 0 END AS due,
           CASE WHEN deadline < :as_of AND is_closed AND closed_date <= deadline THEN 1 ELSE 0 END AS on_time
    FROM h
    WHERE found_date <= :as_of
),
hz AS (
    SELECT district_code,
           COUNT(CASE WHEN found_date >= :week_start THEN 1 END) AS found_in_week,
           COUNT(CASE WHEN closed_in_week = 1 THEN 1 END) AS closed_in_week,
           COUNT(CASE WHEN closed = 0 THEN 1 END) AS open_at_end,
           COUNT(CASE WHEN closed = 0 AND due = 1 THEN 1 END) AS overdue,
           COUNT(CASE WHEN closed = 0 AND is_major THEN 1 END) AS major_open,
           COUNT(CASE WHEN closed = 0 AND listed THEN 1 END) AS supervised_open,
           COUNT(*) AS found_total,
           COUNT(CASE WHEN closed = 1 THEN 1 END) AS closed_total,
           COUNT(CASE WHEN due = 1 THEN 1 END) AS due_total,
           COUNT(CASE WHEN on_time = 1 THEN 1 END) AS on_time_total
    FROM f
    GROUP BY district_code
),
enf AS (
    SELECT district_code,
           COUNT(*) AS actions,
           SUM(fine_wan) AS fines_wan,
           COUNT(CASE WHEN action_type = '罚款' THEN 1 END) AS fines,
           COUNT(CASE WHEN action_type = '警告' THEN 1 END) AS warnings,
           COUNT(CASE WHEN action_type = '停产整顿' THEN 1 END) AS suspensions,
           COUNT(CASE WHEN action_type = '吊销' THEN 1 END) AS revocations,
           COUNT(CASE WHEN action_type = '关闭取缔' THEN 1 END) AS closures,
           COUNT(CASE WHEN action_type = '联合惩戒' THEN 1 END) AS joint_punishments,
           COUNT(CASE WHEN action_type = '约谈' THEN 1 END) AS interviews
    FROM {asof_emb_enforcement} f
    WHERE decision_date >= :week_start AND decision_date <= :as_of
    GROUP BY district_code
)
SELECT
    :week_label,
    CAST(:week_start AS DATE),
    CAST(:week_end AS DATE),
    d.district_code,
    d.district_name,
    COALESCE(hz.found_in_week, 0),
    COALESCE(hz.closed_in_week, 0),
    COALESCE(hz.open_at_end, 0),
    COALESCE(hz.overdue, 0),
    COALESCE(hz.major_open, 0),
    COALESCE(hz.supervised_open, 0),
    COALESCE(hz.found_total, 0),
    COALESCE(hz.closed_total, 0),
    COALESCE(hz.due_total, 0),
    COALESCE(hz.on_time_total, 0),
    CASE WHEN hz.found_total > 0 THEN CAST(ROUND(1.0 * hz.closed_total / hz.found_total, 6) AS DECIMAL(9, 6)) END,
    CASE WHEN hz.due_total > 0 THEN CAST(ROUND(1.0 * hz.on_time_total / hz.due_total, 6) AS DECIMAL(9, 6)) END,
    COALESCE(enf.actions, 0),
    COALESCE(enf.fines_wan, 0),
    COALESCE(enf.fines, 0),
    COALESCE(enf.warnings, 0),
    COALESCE(enf.suspensions, 0),
    COALESCE(enf.revocations, 0),
    COALESCE(enf.closures, 0),
    COALESCE(enf.joint_punishments, 0),
    COALESCE(enf.interviews, 0),
    (SELECT MAX(business_date) FROM load_audit WHERE business_date <= :as_of)
FROM dim_district d
LEFT JOIN hz ON hz.district_code = d.district_code
LEFT JOIN enf ON enf.district_code = d.district_code
