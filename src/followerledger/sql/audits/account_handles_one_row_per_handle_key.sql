-- account_handles_one_row_per_handle_key: rename-history rows of one account whose handles
-- compare equal on their platform (handle_key); such handles must be one row.
select *
from account_handles
qualify count(*) over (partition by account_key, handle_key(platform, handle)) > 1
