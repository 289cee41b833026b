-- 制度措施清单 (rules and measures list) as of :as_of: the measures in the latest list delivered on
-- or before :as_of (snapshot_member), each as known on :as_of (its latest version loaded for business
-- dates up to it), with its status as that list gave it: completed when the actual completion date
-- is not after that list's day, and the document number known from then. A later version or
-- completion does not change the list of a past week.
WITH latest AS (
    SELECT MAX(business_date) AS business_date
    FROM snapshot_member
    WHERE feed_id = 'emb_policy_measure' AND business_date <= :as_of
)
SELECT m.measure_id, m.title, m.measure_type, m.org_name, m.uscc, m.district_code, d.district_name,
       m.registered_date, m.planned_date,
       CASE WHEN m.completed_date <= latest.business_date THEN m.completed_date END AS completed_date,
       CASE WHEN m.completed_date <= latest.business_date THEN m.doc_no END AS doc_no,
       (m.completed_date IS NOT NULL AND m.completed_date <= latest.business_date) AS completed_by_asof,
       latest.business_date AS list_date
FROM {asof_emb_policy_measure} m
JOIN snapshot_member s ON s.feed_id = 'emb_policy_measure' AND s.record_key = m.measure_id
JOIN latest ON s.business_date = latest.business_date
LEFT JOIN dim_district d ON d.district_code = m.district_code
WHERE m.registered_date <= latest.business_date
