-- 一情况 (situation), 安全宣讲 and 安全教育培训 figures of one report week as of :as_of: the
-- activities that ended up to :as_of, as known on :as_of (each one's latest version loaded for
-- business dates up to it) ("week": ended from :week_start). 次数 counts activities; 场次,
-- 覆盖企业家次 and 培训人次 are sums.
WITH a AS (
    SELECT activity_type, sessions, enterprises_covered, COALESCE(attendees, 0) AS attendees,
           CASE WHEN end_date >= :week_start THEN 1 ELSE 0 END AS in_week,
           CASE WHEN activity_type = '安全宣讲' THEN 1 ELSE 0 END AS talk,
           CASE WHEN activity_type = '安全教育培训' THEN 1 ELSE 0 END AS course
    FROM {asof_emb_outreach} f
    WHERE end_date <= :as_of
)
SELECT
    COALESCE(SUM(talk * in_week), 0) AS talks_week,
    COALESCE(SUM(talk), 0) AS talks_total,
    COALESCE(SUM(talk * sessions * in_week), 0) AS talk_sessions_week,
    COALESCE(SUM(talk * sessions), 0) AS talk_sessions_total,
    COALESCE(SUM(talk * enterprises_covered * in_week), 0) AS talk_enterprises_week,
    COALESCE(SUM(talk * enterprises_covered), 0) AS talk_enterprises_total,
    COALESCE(SUM(course * in_week), 0) AS courses_week,
    COALESCE(SUM(course), 0) AS courses_total,
    COALESCE(SUM(course * sessions * in_week), 0) AS course_sessions_week,
    COALESCE(SUM(course * sessions), 0) AS course_sessions_total,
    COALESCE(SUM(course * enterprises_covered * in_week), 0) AS course_enterprises_week,
    COALESCE(SUM(course * enterprises_covered), 0) AS course_enterprises_total,
    COALESCE(SUM(course * attendees * in_week), 0) AS trained_week,
    COALESCE(SUM(course * attendees), 0) AS trained_total
FROM a
