-- 一情况 (situation), 安全风险分析及防范措施 figures of one report week as of :as_of: the tasks of
-- the latest list delivered on or before :as_of (snapshot_member), each as known on :as_of (its
-- latest version loaded for business dates up to it; a task of that list whose row was rejected
-- and never loaded by then is not counted), done when its 完成日期 is not after that list's day
-- ("week": done from :week_start). Progress is judged on :as_of as for the two lists
-- (reporting/progress.py): 绿 done or on track, 黄 open with its deadline before :warn_by (fewer
-- than the yellow days left), 红 open past its deadline.
WITH latest AS (
    SELECT MAX(business_date) AS business_date
    FROM snapshot_member
    WHERE feed_id = 'emb_risk_task' AND business_date <= :as_of
),
t AS (
    SELECT r.task_id, r.risk_area, r.deadline,
           CASE WHEN r.completed_date <= latest.business_date THEN 1 ELSE 0 END AS done,
           CASE WHEN r.completed_date <= latest.business_date AND r.completed_date >= :week_start THEN 1 ELSE 0 END AS done_in_week
    FROM {asof_emb_risk_task} r
    JOIN snapshot_member s ON s.feed_id = 'emb_risk_task' AND s.record_key = r.task_id
    JOIN latest ON s.business_date = latest.business_date
    WHERE r.assigned_date <= latest.business_date
)
SELECT
    COUNT(DISTINCT risk_area) AS areas_total,
    COUNT(*) AS tasks_total,
    COALESCE(SUM(done_in_week), 0) AS done_week,
    COALESCE(SUM(done), 0) AS done_total,
    COALESCE(SUM(CASE WHEN done = 0 AND deadline < :as_of THEN 1 ELSE 0 END), 0) AS red_total,
    COALESCE(SUM(CASE WHEN done = 0 AND deadline >= :as_of AND deadline < :warn_by THEN 1 ELSE 0 END), 0) AS yellow_total,
    COALESCE(SUM(CASE WHEN done = 1 OR deadline >= :warn_by THEN 1 ELSE 0 END), 0) AS green_total
FROM t
