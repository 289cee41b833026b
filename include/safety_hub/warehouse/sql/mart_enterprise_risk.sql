-- mart_enterprise_risk: each key enterprise's risk score and grade (红/橙/黄/蓝) in the partition of
-- the week ending :week_end, as of :as_of (the week's data date: its Sunday once the week is
-- complete, else the latest business date loaded in it), from what the warehouse knew by then. Values in braces come from
-- include/risk.yaml (safety_hub.warehouse.risk fills them in); every component is in points rounded to
-- 2 decimals and the score is their sum, so the row explains its grade.
--
-- enterprises  the members of the key-enterprise registry's latest snapshot delivered by :as_of
--              (snapshot_member); their profile (industry, 重大危险源, 从业人员) is the registry's row
--              as known on :as_of (registry_version: the latest update among the rows delivered by
--              then, a later delivery's breaking a tie; sqltext.versions_asof), their name and district those shown on :as_of
--              (dim_enterprise_asof: the version in force, as known that day). A member whose every delivery by then was quarantined has no row.
-- inherent     points by sector (dim_industry), by 重大危险源等级 and by headcount band.
-- hazards      the de-duplicated hazards known on :as_of (hazard_asof.sql) found by then: open =
--              not closed by then; overdue = open and the deadline before :as_of. A 重大 hazard
--              counts major_weight times (open_major, overdue_major). Each column is capped.
-- accidents    by grade, occurred in [:accidents_from, :as_of], as known on :as_of (each record's
--              latest version loaded by then, as for the registry); capped.
-- enforcement  by action type, decided in [:enforcement_from, :as_of], as known on :as_of; capped.
-- insurance    在保: a policy known on :as_of (its latest version loaded by then) started by then and ends on or after
--              :cover_ends_from (:as_of minus the grace days); 脱保: policies loaded by then,
--              none in force (ended, or not started yet); 未见保单: no policy of the enterprise loaded at all (unknown, not a
--              lapse). When the sector is mandatory: 脱保 scores insurance_lapsed, 未见保单 scores
--              insurance_unseen (no_policy_seen_points, default 0).
-- grade        score >= red_min → 红, >= orange_min → 橙, >= yellow_min → 黄, else 蓝 (limits
--              inclusive). risk_rank: 1 = highest score; equal scores share a rank.
INSERT INTO mart_enterprise_risk
    (as_of_date, uscc, org_name, district_code, district_name, industry_code, sector, major_hazard_level, employees,
     reported_risk_level, n_open_hazards, n_overdue_hazards, n_open_major, n_overdue_major, n_accidents, n_enforcement,
     insurance_mandatory, insurance_status,
     inherent_industry, inherent_major_source, inherent_headcount, open_hazards, overdue_hazards, open_major, overdue_major,
     accidents, enforcement, insurance_lapsed, insurance_unseen, score, grade, grade_rank, risk_rank, data_through, config_sha)
WITH snapshot AS (
    SELECT MAX(business_date) AS snapshot_date
    FROM snapshot_member
    WHERE feed_id = {registry_feed} AND business_date <= :as_of
),
e AS (
    SELECT r.uscc, r.org_name, r.district_code, r.industry_code, i.sector, r.major_hazard_level, r.employees, r.risk_level
    FROM {asof_emb_ent_registry} r
    JOIN snapshot_member m ON m.feed_id = {registry_feed} AND m.record_key = r.uscc
    JOIN snapshot s ON m.business_date = s.snapshot_date
    LEFT JOIN dim_industry i ON i.industry_code = UPPER(TRIM(r.industry_code))
),
named AS (
    SELECT uscc, org_name, district_code
    FROM dim_enterprise_asof
    WHERE valid_from <= :as_of AND (valid_to IS NULL OR valid_to > :as_of)
),
h AS (
{hazard_asof}
),
hazard_state AS (
    SELECT uscc, COALESCE(is_major, FALSE) AS is_major,
           CASE WHEN is_closed AND closed_date <= :as_of THEN 0 ELSE 1 END AS is_open,
           CASE WHEN deadline < :as_of THEN 1 ELSE 0 END AS past_deadline
    FROM h
    WHERE found_date <= :as_of
),
hazards AS (
    SELECT uscc,
           COUNT(CASE WHEN is_open = 1 AND NOT is_major THEN 1 END) AS n_open,
           COUNT(CASE WHEN is_open = 1 AND NOT is_major AND past_deadline = 1 THEN 1 END) AS n_overdue,
           COUNT(CASE WHEN is_open = 1 AND is_major THEN 1 END) AS n_open_major,
           COUNT(CASE WHEN is_open = 1 AND is_major AND past_deadline = 1 THEN 1 END) AS n_overdue_major
    FROM hazard_state
    GROUP BY uscc
),
accident AS (
    SELECT uscc, COUNT(*) AS n, SUM({accident_points}) AS points
    FROM {asof_emb_accident} f
    WHERE occurred_date >= :accidents_from AND occurred_date <= :as_of
    GROUP BY uscc
),
action AS (
    SELECT uscc, COUNT(*) AS n, SUM({enforcement_points}) AS points
    FROM {asof_emb_enforcement} f
    WHERE decision_date >= :enforcement_from AND decision_date <= :as_of
    GROUP BY uscc
),
cover AS (
    SELECT uscc,
           MAX(CASE WHEN start_date <= :as_of AND end_date >= :cover_ends_from THEN 1 ELSE 0 END) AS covered
    FROM {asof_emb_insurance} f
    GROUP BY uscc
),
counted AS (
    SELECT e.*,
           COALESCE(n.org_name, e.org_name) AS display_name,
           COALESCE(n.district_code, e.district_code) AS display_district,
           COALESCE(hz.n_open, 0) AS n_open_hazards,
           COALESCE(hz.n_overdue, 0) AS n_overdue_hazards,
           COALESCE(hz.n_open_major, 0) AS n_open_major,
           COALESCE(hz.n_overdue_major, 0) AS n_overdue_major,
           COALESCE(a.n, 0) AS n_accidents,
           COALESCE(a.points, 0) AS accident_points,
           COALESCE(x.n, 0) AS n_enforcement,
           COALESCE(x.points, 0) AS enforcement_points,
           {mandatory} AS insurance_mandatory,
           CASE WHEN c.covered = 1 THEN '在保' WHEN c.uscc IS NOT NULL THEN '脱保' ELSE '未见保单' END AS insurance_status
    FROM e
    LEFT JOIN named n ON n.uscc = e.uscc
    LEFT JOIN hazards hz ON hz.uscc = e.uscc
    LEFT JOIN accident a ON a.uscc = e.uscc
    LEFT JOIN action x ON x.uscc = e.uscc
    LEFT JOIN cover c ON c.uscc = e.uscc
),
points AS (
    SELECT e.*,
           CAST(ROUND({industry_points}, 2) AS DECIMAL(10, 2)) AS inherent_industry,
           CAST(ROUND({major_source_points}, 2) AS DECIMAL(10, 2)) AS inherent_major_source,
           CAST(ROUND({headcount_points}, 2) AS DECIMAL(10, 2)) AS inherent_headcount,
           -- LEAST ignores a NULL cap (max_points: null)
           CAST(ROUND(LEAST(n_open_hazards * {open_points}, {hazards_max}), 2) AS DECIMAL(10, 2)) AS open_hazards,
           CAST(ROUND(LEAST(n_overdue_hazards * {overdue_points}, {hazards_max}), 2) AS DECIMAL(10, 2)) AS overdue_hazards,
           CAST(ROUND(LEAST(n_open_major * {open_points} * {major_weight}, {hazards_max}), 2) AS DECIMAL(10, 2)) AS open_major,
           CAST(ROUND(LEAST(n_overdue_major * {overdue_points} * {major_weight}, {hazards_max}), 2) AS DECIMAL(10, 2)) AS overdue_major,
           CAST(ROUND(LEAST(accident_points, {accidents_max}), 2) AS DECIMAL(10, 2)) AS accidents,
           CAST(ROUND(LEAST(enforcement_points, {enforcement_max}), 2) AS DECIMAL(10, 2)) AS enforcement,
           CAST(CASE WHEN insurance_mandatory AND insurance_status = '脱保' THEN {insurance_points} ELSE 0 END
                AS DECIMAL(10, 2)) AS insurance_lapsed,
           CAST(CASE WHEN insurance_mandatory AND insurance_status = '未见保单' THEN {no_policy_seen_points} ELSE 0 END
                AS DECIMAL(10, 2)) AS insurance_unseen
    FROM counted e
),
scored AS (
    SELECT p.*,
           inherent_industry + inherent_major_source + inherent_headcount + open_hazards + overdue_hazards + open_major
           + overdue_major + accidents + enforcement + insurance_lapsed + insurance_unseen AS score
    FROM points p
),
graded AS (
    SELECT s.*,
           CASE WHEN score >= {red_min} THEN 1 WHEN score >= {orange_min} THEN 2 WHEN score >= {yellow_min} THEN 3 ELSE 4 END AS grade_rank
    FROM scored s
)
SELECT
    CAST(:week_end AS DATE),
    g.uscc, g.display_name, g.display_district, d.district_name, g.industry_code, g.sector, g.major_hazard_level, g.employees,
    g.risk_level, g.n_open_hazards, g.n_overdue_hazards, g.n_open_major, g.n_overdue_major, g.n_accidents, g.n_enforcement,
    g.insurance_mandatory, g.insurance_status,
    g.inherent_industry, g.inherent_major_source, g.inherent_headcount, g.open_hazards, g.overdue_hazards, g.open_major, g.overdue_major,
    g.accidents, g.enforcement, g.insurance_lapsed, g.insurance_unseen,
    g.score,
    CASE g.grade_rank WHEN 1 THEN '红' WHEN 2 THEN '橙' WHEN 3 THEN '黄' ELSE '蓝' END,
    g.grade_rank,
    RANK() OVER (ORDER BY g.score DESC),
    (SELECT MAX(business_date) FROM load_audit WHERE business_date <= :as_of),
    {config_sha}
FROM graded g
LEFT JOIN dim_district d ON d.district_code = g.display_district
