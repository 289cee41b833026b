-- 一情况 (situation), enforcement figures of one report week, as of its Sunday (:as_of): the
-- enforcement records as known on :as_of (each one's latest version loaded for business dates up to
-- it). Inspections count enterprises (distinct USCC) by inspection date; decisions count records by
-- decision date. 行政处罚 are the penalties (罚款, 警告, 停产整顿, 吊销, 关闭取缔); 联合惩戒 and 约谈
-- are measures, counted apart. Fines are 万元 (fine_wan) of every record, the fine that comes with a
-- 停产整顿 included.
WITH e AS (
    SELECT uscc, inspect_date, decision_date, action_type, COALESCE(fine_wan, 0) AS fine_wan,
           CASE WHEN decision_date >= :week_start THEN 1 ELSE 0 END AS in_week,
           CASE WHEN action_type IN ('罚款', '警告', '停产整顿', '吊销', '关闭取缔') THEN 1 ELSE 0 END AS penalty
    FROM {asof_emb_enforcement} f
    WHERE decision_date <= :as_of
)
SELECT
    COUNT(DISTINCT CASE WHEN inspect_date BETWEEN :week_start AND :as_of THEN uscc END) AS inspected_week,
    COUNT(DISTINCT CASE WHEN inspect_date <= :as_of THEN uscc END) AS inspected_total,
    COALESCE(SUM(penalty * in_week), 0) AS penalties_week,
    COALESCE(SUM(penalty), 0) AS penalties_total,
    COALESCE(SUM(fine_wan * in_week), 0) AS fine_wan_week,
    COALESCE(SUM(fine_wan), 0) AS fine_wan_total,
    COALESCE(SUM(CASE WHEN action_type = '停产整顿' THEN in_week ELSE 0 END), 0) AS suspensions_week,
    COALESCE(SUM(CASE WHEN action_type = '停产整顿' THEN 1 ELSE 0 END), 0) AS suspensions_total,
    COALESCE(SUM(CASE WHEN action_type = '吊销' THEN in_week ELSE 0 END), 0) AS revocations_week,
    COALESCE(SUM(CASE WHEN action_type = '吊销' THEN 1 ELSE 0 END), 0) AS revocations_total,
    COALESCE(SUM(CASE WHEN action_type = '关闭取缔' THEN in_week ELSE 0 END), 0) AS closures_week,
    COALESCE(SUM(CASE WHEN action_type = '关闭取缔' THEN 1 ELSE 0 END), 0) AS closures_total,
    COALESCE(SUM(CASE WHEN action_type = '联合惩戒' THEN in_week ELSE 0 END), 0) AS joint_punishments_week,
    COALESCE(SUM(CASE WHEN action_type = '联合惩戒' THEN 1 ELSE 0 END), 0) AS joint_punishments_total,
    COALESCE(SUM(CASE WHEN action_type = '约谈' THEN in_week ELSE 0 END), 0) AS warning_talks_week,
    COALESCE(SUM(CASE WHEN action_type = '约谈' THEN 1 ELSE 0 END), 0) AS warning_talks_total
FROM e
