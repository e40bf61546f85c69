"""English formats for the back office (settings.FORMAT_MODULE_PATH): every date and time a page
shows without a format of its own reads ``2024-03-01 10:05:07 UTC``, as backoffice.display
writes them, not Django's "March 1, 2024, 10:05 a.m."."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
MONTH_DAY_FORMAT = "M j"
YEAR_MONTH_FORMAT = "F Y"
