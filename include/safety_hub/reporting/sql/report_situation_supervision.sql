-- 一情况 (situation), 督导检查 figures of one report week as of :as_of: the inspections made up to
-- :as_of ("week": from :week_start), as known on :as_of (each inspection's latest version loaded for
-- business dates up to it, fact_supervision_version), with the key problems they put under
-- supervision (督办问题编号 given). A problem's status is the one that version gives: 已整改 when its
-- 整改完成日期 is not after :as_of, 整改中 when only its 开始整改日期 is, else 未整改; 超期 =
-- deadline before :as_of and not 已整改 by then. A later version, or an inspection whose report was
-- rejected and corrected later, does not change a past week's figures.
WITH s AS (
    SELECT problems_found, deadline,
           CASE WHEN inspect_date >= :week_start THEN 1 ELSE 0 END AS in_week,
           CASE WHEN problem_id IS NOT NULL THEN 1 ELSE 0 END AS supervised,
           CASE WHEN rectified_date <= :as_of THEN 1 ELSE 0 END AS done,
           CASE WHEN started_date <= :as_of AND NOT COALESCE(rectified_date <= :as_of, FALSE) THEN 1 ELSE 0 END AS underway
    FROM {asof_emb_supervision} f
    WHERE inspect_date <= :as_of
)
SELECT
    COALESCE(SUM(in_week), 0) AS inspections_week,
    COUNT(*) AS inspections_total,
    COALESCE(SUM(problems_found * in_week), 0) AS problems_week,
    COALESCE(SUM(problems_found), 0) AS problems_total,
    COALESCE(SUM(supervised * in_week), 0) AS supervised_week,
    COALESCE(SUM(supervised), 0) AS supervised_total,
    COALESCE(SUM(supervised * done), 0) AS rectified_total,
    COALESCE(SUM(supervised * underway), 0) AS underway_total,
    COALESCE(SUM(supervised * (1 - done) * (1 - underway)), 0) AS not_started_total,
    COALESCE(SUM(CASE WHEN supervised = 1 AND done = 0 AND deadline < :as_of THEN 1 ELSE 0 END), 0) AS overdue_total
FROM s
