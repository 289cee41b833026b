"""Stage 6, report: the weekly 一情况两清单 workbook and the weekly HTML report.

``archive`` (ISO weeks, ``reports/<yyyy-Www>/``), ``figures`` and ``marts`` (what the
warehouse knew at the week's end), ``workbook`` (Excel), ``weekly`` (HTML), ``cells``
(formula-injection guard), ``html`` (page pieces shared with ``safety_hub.report``),
``produce`` (one call that writes a week's files).
"""
