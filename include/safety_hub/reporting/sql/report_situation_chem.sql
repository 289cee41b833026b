-- 一情况 (situation), 危险化学品企业排查评估 figures of one report week as of :as_of: the assessments
-- concluded up to :as_of, as known on :as_of (each one's latest version loaded for business dates up
-- to it) ("week": concluded from :week_start). Enterprises are counted by USCC, each in the batch of
-- its latest assessment up to :as_of (三个一批: 关闭退出, 停业整改, 限期整改); 一企一策 counts the
-- enterprises of a batch whose latest assessment carries a measure plan.
WITH a AS (
    SELECT uscc, assess_date, classification, measure_plan, assessment_id,
           ROW_NUMBER() OVER (PARTITION BY uscc ORDER BY assess_date DESC, assessment_id DESC) AS rn,
           MIN(assess_date) OVER (PARTITION BY uscc) AS first_assessed
    FROM {asof_emb_chem_assessment} f
    WHERE assess_date <= :as_of
),
latest AS (
    SELECT *,
           CASE WHEN classification IN ('关闭退出', '停业整改', '限期整改') THEN 1 ELSE 0 END AS in_batch,
           CASE WHEN first_assessed >= :week_start THEN 1 ELSE 0 END AS new_in_week
    FROM a WHERE rn = 1
)
SELECT
    (SELECT COUNT(*) FROM a WHERE assess_date >= :week_start) AS assessments_week,
    (SELECT COUNT(*) FROM a) AS assessments_total,
    COALESCE(SUM(new_in_week), 0) AS enterprises_week,
    COUNT(*) AS enterprises_total,
    COALESCE(SUM(CASE WHEN classification = '关闭退出' THEN 1 ELSE 0 END), 0) AS closed_total,
    COALESCE(SUM(CASE WHEN classification = '停业整改' THEN 1 ELSE 0 END), 0) AS suspended_total,
    COALESCE(SUM(CASE WHEN classification = '限期整改' THEN 1 ELSE 0 END), 0) AS deadline_total,
    COALESCE(SUM(CASE WHEN classification = '评估达标' THEN 1 ELSE 0 END), 0) AS passed_total,
    COALESCE(SUM(CASE WHEN in_batch = 1 AND measure_plan IS NOT NULL THEN 1 ELSE 0 END), 0) AS plans_total
FROM latest
