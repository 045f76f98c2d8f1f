-- watched: the accounts in the watchlist, as accounts has them. Not a query of the page: the
-- report's connection creates it once as a temporary view, `watched`, that the report's
-- queries read.
-- Grain: one row per account_key. Keys: account_key. No parameters.
select *
from accounts
where in_watchlist
