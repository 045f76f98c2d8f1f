-- brand_daily_included_within_expected: totals counting more accounts than the brand watches.
select *
from brand_daily
where accounts_included > accounts_expected
