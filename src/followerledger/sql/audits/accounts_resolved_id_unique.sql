-- accounts_resolved_id_unique: accounts sharing their (platform, account_id) with another
-- account. A resolved account has one account_key, so two keys for one id split its history.
select *
from accounts
where account_id is not null
qualify count(*) over (partition by platform, account_id) > 1
