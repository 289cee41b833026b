"""Stage 6, report: the district report and the weekly 一情况两清单 workbook and HTML report.

``district`` (the Chinese HTML district hazard report),
``archive`` (ISO weeks, ``reports/<yyyy-Www>/``), ``figures`` and ``marts`` (what the
warehouse knew at the week's end), ``workbook`` (Excel), ``weekly`` (HTML), ``cells``
(formula-injection guard), ``html`` (page pieces shared with ``safety_hub.reporting.district``),
``produce`` (one call that writes a week's files); ``sql/report_*.sql`` (the weekly figures' queries).
"""
