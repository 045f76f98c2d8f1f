-- keyed_observations_keyed: observations left without the key of an account.
select *
from keyed_observations
where account_key is null
