-- 报送率 and 及时率 as of :as_of, over the periods due from :first to :last (and by :as_of), per the
-- grouping columns {group} of mart_reporting_status (feed, 部门 = agency, 区 = unit).
-- 应报 expected; 已报 reported by :as_of (按时 + 迟报); 按时 by the due date; 迟报 after it;
-- 漏报 none by :as_of; 重复报送 a reported date delivered again, or a record twice in one delivery, by :as_of.
-- 报送率 = 已报 / 应报, 及时率 = 按时 / 应报.
SELECT {group},
       COUNT(*) AS expected,
       SUM(CASE WHEN first_received <= :as_of THEN 1 ELSE 0 END) AS reported,
       SUM(CASE WHEN first_received <= due_date THEN 1 ELSE 0 END) AS on_time,
       SUM(CASE WHEN first_received > due_date AND first_received <= :as_of THEN 1 ELSE 0 END) AS late,
       SUM(CASE WHEN first_received IS NULL OR first_received > :as_of THEN 1 ELSE 0 END) AS missed,
       SUM(CASE WHEN repeated_on <= :as_of THEN 1 ELSE 0 END) AS repeated
FROM mart_reporting_status
WHERE due_date >= :first AND due_date <= :last AND due_date <= :as_of
GROUP BY {group}
ORDER BY {group}
