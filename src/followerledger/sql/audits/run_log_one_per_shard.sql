-- run_log: one record per (run_id, platform, shard), a null shard (a run before shards) counting
-- as one shard of its own.
select *
from run_log
qualify count(*) over (partition by run_id, platform, coalesce(shard, -1)) > 1
