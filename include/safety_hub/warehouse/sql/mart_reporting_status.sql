-- 报送情况: one row per feed, expected unit and due period (dim_reporting_duty), from the receipts
-- (report_receipt) delivered up to :as_of. A receipt counts for the period holding the date it
-- reports for (period_date). A submission is one reported date in one delivery. 重复报送 (the same
-- thing reported again): a reported date delivered in a second delivery, or a record delivered
-- twice for it within one delivery (repeated_records); repeated_on is the business date of the
-- first such delivery.
-- Status as of :as_of: 按时 (first submission's delivery by the due date), 迟报 (later), 漏报 (none).
-- An earlier as-of date A reads the same row: reported when first_received <= A, repeated when
-- repeated_on <= A (reporting/sql/reporting_rates.sql).
INSERT INTO mart_reporting_status (feed_id, unit_code, period_start, agency, agency_name, unit_name, frequency,
                                   period_end, due_date, first_received, repeated_on, submissions, records, status, as_of_date)
WITH submission AS (
    SELECT d.feed_id, d.unit_code, d.period_start, r.period_date, r.business_date,
           SUM(r.records) AS records, SUM(r.repeated_records) AS repeated_records
    FROM dim_reporting_duty d
    JOIN report_receipt r
      ON r.feed_id = d.feed_id AND r.unit_code = d.unit_code
     AND r.period_date >= d.period_start AND r.period_date <= d.period_end
    WHERE r.business_date <= :as_of
    GROUP BY d.feed_id, d.unit_code, d.period_start, r.period_date, r.business_date
),
ranked AS (
    SELECT s.*, ROW_NUMBER() OVER (PARTITION BY feed_id, unit_code, period_start, period_date
                                   ORDER BY business_date) AS nth
    FROM submission s
),
per_period AS (
    SELECT feed_id, unit_code, period_start,
           MIN(business_date) AS first_received,
           MIN(CASE WHEN nth >= 2 OR repeated_records > 0 THEN business_date END) AS repeated_on,
           COUNT(*) AS submissions,
           SUM(records) AS records
    FROM ranked
    GROUP BY feed_id, unit_code, period_start
)
SELECT d.feed_id, d.unit_code, d.period_start, d.agency, d.agency_name, d.unit_name, d.frequency,
       d.period_end, d.due_date, p.first_received, p.repeated_on,
       COALESCE(p.submissions, 0), COALESCE(p.records, 0),
       CASE WHEN p.first_received IS NULL THEN '漏报'
            WHEN p.first_received <= d.due_date THEN '按时'
            ELSE '迟报' END,
       CAST(:as_of AS DATE)
FROM dim_reporting_duty d
LEFT JOIN per_period p
  ON p.feed_id = d.feed_id AND p.unit_code = d.unit_code AND p.period_start = d.period_start
